"""The corpus pipeline end to end on the real npm Elm packages: npm pack → filter → units →
dataset (split by repository, duplicates removed, licences chosen, StarCoder2 token
counts), plus the npm and local sources on their own and the benchmark function."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from elmgrammar.cli import main
from elmgrammar.corpus.bench import bench_corpus, print_bench_corpus
from elmgrammar.corpus.dataset import DatasetOptions, assign_splits, run_dataset
from elmgrammar.corpus.jsonl import AtomicJsonl, read_jsonl
from elmgrammar.corpus.filter import run_filter
from elmgrammar.corpus.local import local_records
from elmgrammar.corpus.records import file_record
from elmgrammar.corpus.npm import npm_pack, tarball_records
from elmgrammar.corpus.tokens import DEFAULT_MAX_TOKENS, tokenizer_path
from elmgrammar.corpus.units import UNIT_KEYS
from elmgrammar.oracles import tools
from elmgrammar.starcoder2 import default_tokenizer, starcoder2_path

@pytest.fixture(scope="module")
def tokenizer() -> Path:
    """The StarCoder2 tokenizer: $ELMGRAMMAR_TOKENIZER, else the one shipped with the package."""
    path = Path(default_tokenizer())
    if not (path / "tokenizer.json").is_file() and not path.is_file():
        pytest.fail(f"StarCoder2 tokenizer not found at {path} (from $ELMGRAMMAR_TOKENIZER?)", pytrace=False)
    return path


@pytest.fixture(scope="module")
def package_dirs(real_files) -> list[Path]:
    """The installed npm packages whose .elm files are the real corpus."""
    root = tools.tools_dir() / "node_modules"
    return [root / name for name in tools.CORPUS_PACKAGES]


def test_pipeline_end_to_end_on_the_npm_corpus(package_dirs, real_files, tokenizer, tmp_path, capsys):
    work = tmp_path / "work"
    # npm pack of the installed package folders: the same tarball contents as the
    # registry's, and no network needed
    assert main(["corpus", "npm", *map(str, package_dirs), "--out", str(work), "--quiet"]) == 0
    files = list(read_jsonl(work / "files.jsonl"))
    assert len(files) == len(real_files)
    assert {f["repo"] for f in files} == set(tools.CORPUS_PACKAGES)
    assert all(f["licence"] == "BSD-3-Clause" and f["commit"] for f in files)

    assert main(["corpus", "filter", str(work), "--quiet", "--jobs", "2"]) == 0
    assert main(["corpus", "units", str(work), "--quiet", "--jobs", "2"]) == 0
    units = list(read_jsonl(work / "units.jsonl"))
    assert len(units) > 1500 and all(tuple(u) == UNIT_KEYS for u in units)
    capsys.readouterr()

    assert main(["corpus", "dataset", str(work), "--tokenizer", str(tokenizer), "--quiet"]) == 0
    report = capsys.readouterr().out
    assert "tokens per unit" in report and "BSD-3-Clause" in report
    out = work / "dataset"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["units_in"] == len(units)
    dropped = stats["dropped"]
    assert stats["all"]["units"] == (len(units) - dropped["exact_duplicate"] - dropped["whitespace_duplicate"]
                                     - dropped["too_many_tokens"])
    assert stats["max_tokens"] == DEFAULT_MAX_TOKENS and stats["all"]["tokens"]["max"] <= DEFAULT_MAX_TOKENS
    assert stats["all"]["tokens"]["total"] > stats["all"]["units"] > 0
    assert sum(stats["all"]["kinds"].values()) == stats["all"]["units"]

    # no repository in two splits, every split present, texts unique
    repos_of = {}
    texts = set()
    for split in ("train", "validation", "test"):
        rows = list(read_jsonl(out / f"{split}.jsonl"))
        assert rows, split
        repos_of[split] = {r["repo"] for r in rows}
        for r in rows:
            assert r["text"] not in texts
            texts.add(r["text"])
    assert not (repos_of["train"] & repos_of["validation"]) and not (repos_of["train"] & repos_of["test"])
    assert not (repos_of["validation"] & repos_of["test"])

    # the user's way of loading, and the saved DatasetDict
    import datasets

    loaded = datasets.load_dataset("json", data_files={s: str(out / f"{s}.jsonl") for s in repos_of},
                                   cache_dir=str(tmp_path / "hf-cache"))
    assert "text" in loaded["train"].column_names
    saved = datasets.load_from_disk(str(out / "hf"))
    assert {s: len(saved[s]) for s in saved} == {s: stats["splits"][s]["units"] for s in repos_of}


def test_dataset_keeps_only_the_licences_asked_for_and_drops_duplicates(tmp_path):
    def unit(text, repo, licence, name="x"):
        return {"text": text, "kind": "value", "name": name, "repo": repo, "path": "A.elm", "licence": licence,
                "start_line": 1, "end_line": text.count("\n") + 1}

    with AtomicJsonl(tmp_path / "units.jsonl") as out:
        out.write(unit("x = 1", "a/mit", "MIT"))
        out.write(unit("x = 1", "b/mit", "MIT"))                  # exact duplicate
        out.write(unit("x =\n    1", "c/bsd", "BSD-3-Clause"))    # duplicate up to whitespace
        out.write(unit("y = 2", "c/bsd", "BSD-3-Clause", "y"))
        out.write(unit("z = 3", "d/gpl", "GPL-3.0", "z"))
        out.write(unit("w = 4", "e/none", None, "w"))
    options = DatasetOptions(licences=frozenset({"MIT", "BSD-3-Clause"}), count_tokens=False)
    stats = run_dataset([tmp_path], tmp_path / "ds", options, show_progress=False)
    assert (stats.dropped_licence, stats.dropped_exact, stats.dropped_whitespace) == (2, 1, 1)
    kept = [r for s in ("train", "validation", "test") for r in read_jsonl(tmp_path / "ds" / f"{s}.jsonl")]
    assert sorted(r["text"] for r in kept) == ["x = 1", "y = 2"]
    assert set(stats.as_dict()["licences"]) == {"MIT", "BSD-3-Clause"}


def _one_unit(folder: Path) -> None:
    with AtomicJsonl(folder / "units.jsonl") as out:
        out.write({"text": "x = 1", "kind": "value", "name": "x", "repo": "a/b", "path": "A.elm", "licence": "MIT",
                   "start_line": 1, "end_line": 1})


def test_dataset_counts_starcoder2_tokens_with_the_shipped_tokenizer_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("ELMGRAMMAR_TOKENIZER", raising=False)
    _one_unit(tmp_path)
    assert main(["corpus", "dataset", str(tmp_path), "--quiet", "--json"]) == 0
    # `x = 1` is 4 StarCoder2 tokens: x, " =", " ", 1 (digits are split one by one)
    assert json.loads((tmp_path / "dataset" / "stats.json").read_text())["all"]["tokens"]["total"] == 4
    assert tokenizer_path() == starcoder2_path() / "tokenizer.json" == tokenizer_path("starcoder2")


def test_dataset_names_a_tokenizer_that_is_not_there(tmp_path, capsys, monkeypatch):
    _one_unit(tmp_path)
    assert main(["corpus", "dataset", str(tmp_path), "--tokenizer", str(tmp_path / "none"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"tokenizer not found: {tmp_path / 'none'}" in err and "--no-tokens" in err and "Traceback" not in err
    monkeypatch.setenv("ELMGRAMMAR_TOKENIZER", str(tmp_path / "elsewhere"))
    assert main(["corpus", "dataset", str(tmp_path), "--quiet"]) == 2
    assert "(from $ELMGRAMMAR_TOKENIZER)" in capsys.readouterr().err


def test_split_assignment_keeps_shares_with_many_repositories():
    sizes = {f"owner/repo{i}": 1 + (i * 37) % 50 for i in range(400)}
    split_of = assign_splits(sizes, (0.8, 0.1, 0.1), seed=1)
    total = sum(sizes.values())
    share = {s: sum(n for r, n in sizes.items() if split_of[r] == s) / total for s in ("train", "validation", "test")}
    assert abs(share["train"] - 0.8) < 0.02 and abs(share["validation"] - 0.1) < 0.02
    assert assign_splits(sizes, (0.8, 0.1, 0.1), seed=1) == split_of  # deterministic
    assert assign_splits(sizes, (0.8, 0.1, 0.1), seed=2) != split_of


def test_split_assignment_of_a_few_packages_gives_train_the_bulk():
    # the npm corpus: three packages, so three whole repositories to share out
    sizes = {"elm-test": 146, "elm-pages": 1191, "elm-review": 343}
    for seed in range(5):
        split_of = assign_splits(sizes, (0.9, 0.05, 0.05), seed=seed)
        assert split_of["elm-pages"] == "train" and set(split_of.values()) == {"train", "validation", "test"}


def test_npm_package_from_a_folder_and_a_hostile_tarball_is_read_safely(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "src" / "Deep").mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": "@me/elm-thing", "version": "1.2.3",
                                                  "license": {"type": "MIT"}}))
    (pkg / "src" / "Main.elm").write_text("module Main exposing (..)\n\nx = 1\n")
    (pkg / "src" / "Deep" / "Inner.elm").write_text("module Deep.Inner exposing (..)\n\ny = 2\n")
    (pkg / "src" / "notes.txt").write_text("not elm")
    tarball = npm_pack(str(pkg), tmp_path)
    records = list(tarball_records(tarball))
    assert [(r["repo"], r["path"], r["commit"], r["licence"]) for r in records] == [
        ("@me/elm-thing", "src/Deep/Inner.elm", "1.2.3", "MIT"),
        ("@me/elm-thing", "src/Main.elm", "1.2.3", "MIT"),
    ]

    # a tarball whose members climb out, are absolute or are links: read none of them
    evil = tmp_path / "evil.tgz"
    with tarfile.open(evil, "w:gz") as tar:
        for name, data in [("package/package.json", b'{"name": "evil", "version": "0.0.1"}'),
                           ("package/../../escape.elm", b"x = 1\n"), ("/abs.elm", b"x = 1\n"),
                           ("package/ok.elm", b"module Ok exposing (..)\n\nx = 1\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("package/link.elm")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert [r["path"] for r in tarball_records(evil)] == ["ok.elm"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing was extracted


def test_local_folder_names_repositories_and_finds_licences(tmp_path):
    for owner, name, licence in [("alice", "app", "MIT"), ("bob", "lib", None)]:
        root = tmp_path / owner / name
        (root / "src").mkdir(parents=True)
        (root / "src" / "Main.elm").write_text("module Main exposing (..)\n\nx = 1\n")
        (root / "elm-stuff").mkdir()
        (root / "elm-stuff" / "Cached.elm").write_text("x = 1\n")
        if licence:
            (root / "elm.json").write_text(json.dumps({"type": "package", "license": licence}))
    records = list(local_records(tmp_path, repo_depth=2))
    assert [(r["repo"], r["path"], r["licence"], r["source"]) for r in records] == [
        ("alice/app", "src/Main.elm", "MIT", "local"), ("bob/lib", "src/Main.elm", None, "local")]
    assert main(["corpus", "local", str(tmp_path / "alice"), "--out", str(tmp_path / "out"), "--quiet",
                 "--licence", "Apache-2.0"]) == 0
    [one] = read_jsonl(tmp_path / "out" / "files.jsonl")
    assert one["repo"] == "alice" and one["path"] == "app/src/Main.elm" and one["licence"] == "Apache-2.0"


def test_bench_corpus_reports_speed_memory_and_extrapolation(real_files, capsys):
    result = bench_corpus([str(p) for p in real_files[:12]], jobs=2)
    assert [r["jobs"] for r in result["rows"]] == [1, 2]
    assert result["files"] == 12 and result["lines"] > 0 and result["peak_rss_mib"] > 0
    assert all(r["lines_per_s"] > 0 and r["user_corpus_s"] > 0 for r in result["rows"])
    print_bench_corpus(result)
    out = capsys.readouterr().out
    assert "lines/s" in out and "1,200,000 lines" in out


def test_token_cap_drops_exactly_the_units_over_it_and_counts_them(real_files, tmp_path, capsys):
    # the tokenizer shipped with the package's default model: real, and in the repository
    from tokenizers import Tokenizer

    from elmgrammar.corpus.split import run_units
    from elmgrammar.finetune import default_model_path

    tokenizer = default_model_path() / "tokenizer.json"
    with AtomicJsonl(tmp_path / "files.jsonl") as out:
        for path in real_files[:30]:
            out.write(file_record("local", f"pkg/{path.parent.name}", path.name, None, "MIT", path.read_bytes()))
    run_filter([tmp_path], tmp_path, show_progress=False)
    run_units([tmp_path], tmp_path, show_progress=False)
    unique = {}
    for unit in read_jsonl(tmp_path / "units.jsonl"):
        unique.setdefault(" ".join(unit["text"].split()), unit["text"])
    lengths = [len(e.ids) for e in Tokenizer.from_file(str(tokenizer)).encode_batch(
        list(unique.values()), add_special_tokens=False)]
    cap = sorted(lengths)[len(lengths) * 9 // 10]  # about a tenth of the units are longer
    over = [n for n in lengths if n > cap]
    assert 0 < len(over) < len(lengths)

    stats = run_dataset([tmp_path], tmp_path / "ds", DatasetOptions(tokenizer=str(tokenizer), max_tokens=cap),
                        show_progress=False)
    assert (stats.dropped_too_long, stats.dropped_too_long_tokens) == (len(over), sum(over))
    assert stats.all.units == len(lengths) - len(over) and stats.all.tokens == sum(lengths) - sum(over)
    assert max(stats.all.token_hist) <= cap
    saved = json.loads((tmp_path / "ds" / "stats.json").read_text())
    assert saved["dropped"]["too_many_tokens"] == len(over) and saved["max_tokens"] == cap

    # from the command line: 0 is no cap, and a cap without token counts is refused
    assert main(["corpus", "dataset", str(tmp_path), "--tokenizer", str(tokenizer), "--max-tokens", "0",
                 "--out", str(tmp_path / "all"), "--quiet", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["dropped"]["too_many_tokens"] == 0 and printed["all"]["units"] == len(lengths)
    assert main(["corpus", "dataset", str(tmp_path), "--no-tokens", "--max-tokens", "100", "--quiet"]) == 2
    assert "--max-tokens needs token counts" in capsys.readouterr().err


def test_bench_corpus_prints_its_table(real_files, capsys):
    """`elmgrammar bench corpus`, which the corpus part adds to the benchmarks."""
    from elmgrammar.cli import main

    assert main(["bench", "corpus", "--jobs", "1", *map(str, real_files[:3])]) == 0
    out = capsys.readouterr().out
    assert "corpus: 3 files" in out and "lines/s" in out
