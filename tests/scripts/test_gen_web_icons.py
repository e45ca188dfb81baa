"""The web page's icons are what scripts/gen_web_icons.py draws, and the manifest names them
at their real sizes."""

from __future__ import annotations

import json
from pathlib import Path

from scripts import gen_web_icons
from tests.support.paths import REPO_ROOT

WEB = REPO_ROOT / "observer" / "web"


def test_the_committed_icons_are_the_drawing() -> None:
    assert gen_web_icons.main(["--check"]) == 0


def test_a_stale_icon_is_reported(tmp_path: Path) -> None:
    for icon in gen_web_icons.ICONS:
        (tmp_path / icon.name).write_bytes((WEB / icon.name).read_bytes())
    (tmp_path / "favicon.png").write_bytes(b"not a png")
    assert gen_web_icons.main(["--check", "--into", str(tmp_path)]) == 1


def test_the_manifest_names_each_icon_at_its_size() -> None:
    manifest = json.loads((WEB / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone" and manifest["start_url"] == "../"
    for icon in manifest["icons"]:
        size, _pixels = gen_web_icons.pixels_of((WEB / icon["src"]).read_bytes())
        assert icon["sizes"] == f"{size}x{size}" and icon["type"] == "image/png"
    assert {"any", "maskable"} <= {icon["purpose"] for icon in manifest["icons"]}
