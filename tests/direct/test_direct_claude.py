"""Claude launched by observer finds its own transcript (no hook has to name it)."""

from __future__ import annotations

from pathlib import Path

from observer.direct.claude import find_transcript


def test_its_transcript_is_found_by_the_session_id(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    env = {"CLAUDE_CONFIG_DIR": f"{first}, {second}", "HOME": str(tmp_path / "home")}
    assert find_transcript(env, "s1") is None  # no config dir yet, no transcript yet
    transcript = second / "projects" / "-work-app" / "s1.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_text("")
    (second / "projects" / "-work-app" / "s2.jsonl").write_text("")
    assert find_transcript(env, "s1") == str(transcript)
    default = tmp_path / "home" / ".claude" / "projects" / "-x" / "s3.jsonl"
    default.parent.mkdir(parents=True)
    default.write_text("")
    assert find_transcript({"HOME": str(tmp_path / "home")}, "s3") == str(default)
