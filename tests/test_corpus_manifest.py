"""A corpus folder with its manifest (repo, commit, licence, sha256 per file), the way
the shared corpus is laid out, built here from the real npm Elm files: every file is
checked against its sha256, a missing or changed file is reported and left out, and
filter → units → dataset → stats run on the rest, split by the manifest's repositories."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from elmgrammar.cli import main
from elmgrammar.corpus.jsonl import read_jsonl
from elmgrammar.corpus.stats import USER_CORPUS

REPOS = {"alice/forms": ("MIT", "a" * 40), "bob/parsers": ("BSD-3-Clause", "b" * 40),
         "carol/views": ("Apache-2.0", "c" * 40), "dan/tests": ("MPL-2.0", "d" * 40)}


def _corpus(tmp_path: Path, real_files: list[Path]) -> tuple[Path, Path, list[dict]]:
    """``root/OWNER__REPO/src/...`` holding real files, and a manifest listing them."""
    root, entries = tmp_path / "corpus", []
    repos = list(REPOS)
    for i, source in enumerate(real_files[:24]):
        repo = repos[i % len(repos)]
        path = f"src/{source.parent.name}{i}/{source.name}"
        target = root / repo.replace("/", "__") / path
        target.parent.mkdir(parents=True, exist_ok=True)
        data = source.read_bytes()
        target.write_bytes(data)
        licence, commit = REPOS[repo]
        entries.append({"repo": repo, "commit": commit, "path": path, "licence": licence,
                        "sha256": hashlib.sha256(data).hexdigest(), "lines": data.count(b"\n"),
                        "compiler_parses": True, "elm_project": "0.19"})
    manifest = tmp_path / "MANIFEST.jsonl"
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return root, manifest, entries


def test_manifest_files_are_checked_and_the_pipeline_runs_on_the_rest(real_files, tmp_path, capsys):
    root, manifest, entries = _corpus(tmp_path, real_files)
    missing, changed = entries[1], entries[2]
    (root / missing["repo"].replace("/", "__") / missing["path"]).unlink()
    changed_file = root / changed["repo"].replace("/", "__") / changed["path"]
    changed_file.write_bytes(changed_file.read_bytes() + b"\n-- edited after the manifest was made\n")
    (root / "alice__forms" / "src" / "Extra.elm").write_text("module Extra exposing (x)\n\nx = 1\n")
    work = tmp_path / "work"

    assert main(["corpus", "local", str(root), "--manifest", str(manifest), "--out", str(work), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"{len(entries) - 2:,} of {len(entries):,} listed files taken" in out
    assert f"{missing['repo']}/{missing['path']}" in out and f"{changed['repo']}/{changed['path']}" in out

    records = list(read_jsonl(work / "files.jsonl"))
    good = [e for e in entries if e not in (missing, changed)]
    assert [(r["repo"], r["path"]) for r in records] == [(e["repo"], e["path"]) for e in good]
    for record, entry in zip(records, good):
        assert (record["commit"], record["licence"], record["sha256"]) == (entry["commit"], entry["licence"], entry["sha256"])
        assert record["compiler_parses"] is True and record["elm_project"] == "0.19"
    report = json.loads((work / "ingest-report.json").read_text())
    assert report["files"] == len(good) and report["lines"] == sum(e["lines"] for e in good)
    assert [m.split(":")[0] for m in report["manifest"]["missing"]] == [f"{missing['repo']}/{missing['path']}"]
    assert [m.split(":")[0] for m in report["manifest"]["mismatched"]] == [f"{changed['repo']}/{changed['path']}"]
    assert report["manifest"]["unlisted"] == 1 and report["usage"]["wall_s"] >= 0

    assert main(["corpus", "filter", str(work), "--quiet", "--jobs", "1"]) == 0
    filtered = json.loads((work / "filter-report.json").read_text())
    assert filtered["compiler"] == {"checked": filtered["counts"]["kept"], "disagrees": []}
    assert main(["corpus", "units", str(work), "--quiet", "--jobs", "1"]) == 0
    assert main(["corpus", "dataset", str(work), "--no-tokens", "--split", "50,25,25", "--quiet"]) == 0
    repos_of = {s: {r["repo"] for r in read_jsonl(work / "dataset" / f"{s}.jsonl")}
                for s in ("train", "validation", "test")}
    assert set().union(*repos_of.values()) == set(REPOS)
    assert sum(len(r) for r in repos_of.values()) == len(REPOS)  # no repository in two splits
    licences = {r["repo"]: r["licence"] for s in repos_of for r in read_jsonl(work / "dataset" / f"{s}.jsonl")}
    assert licences == {repo: licence for repo, (licence, _) in REPOS.items()}
    capsys.readouterr()

    assert main(["corpus", "stats", str(work)]) == 0
    table = capsys.readouterr().out
    rows: dict[str, list[str]] = {}
    for line in filter(str.strip, table.splitlines()):
        rows.setdefault(line.split()[0], line.split()[1:])  # the table's rows come first
    units = json.loads((work / "units-report.json").read_text())
    stats = json.loads((work / "dataset" / "stats.json").read_text())
    assert rows["ingest"][:2] == [f"{len(good):,}", f"{report['lines']:,}"]
    assert rows["filter"][:2] == [f"{filtered['counts']['kept']:,}", f"{filtered['lines_kept']:,}"]
    assert rows["units"][2] == f"{units['units']:,}" and rows["dataset"][2] == f"{stats['all']['units']:,}"
    assert f"{USER_CORPUS['units']:,}" in table and "peak MiB" in table


@pytest.mark.parametrize("line, message", [
    ('{"repo": "a/b", "path": "src/A.elm"}', "MANIFEST.jsonl:3: no 'sha256'"),
    ('{"repo": "a/b", "path": "../../etc/A.elm", "sha256": "00"}', "MANIFEST.jsonl:3: path '../../etc/A.elm' leaves"),
    ('{"repo": "a/b", "path": "src/A.elm", "sha256"', "MANIFEST.jsonl:3: not a JSON line"),
])
def test_a_bad_manifest_line_is_one_clear_error(tmp_path, capsys, line, message):
    (tmp_path / "corpus" / "a__b" / "src").mkdir(parents=True)
    good = '{"repo": "a/b", "path": "src/B.elm", "sha256": "00"}'
    (tmp_path / "MANIFEST.jsonl").write_text(good + "\n\n" + line + "\n" + good + "\n")  # a blank line 2
    assert main(["corpus", "local", str(tmp_path / "corpus"), "--manifest", str(tmp_path / "MANIFEST.jsonl"),
                 "--out", str(tmp_path / "work"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_manifest_mode_refuses_options_it_would_ignore(tmp_path, capsys):
    (tmp_path / "MANIFEST.jsonl").write_text("")
    assert main(["corpus", "local", str(tmp_path), "--manifest", str(tmp_path / "MANIFEST.jsonl"),
                 "--licence", "MIT", "--out", str(tmp_path / "work"), "--quiet"]) == 2
    assert "--manifest" in capsys.readouterr().err


def test_stats_of_an_empty_folder_says_what_is_missing(tmp_path, capsys):
    assert main(["corpus", "stats", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "no step reports" in err and "Traceback" not in err
