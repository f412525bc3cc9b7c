"""The vLLM logits processor on vLLM's CPU build, with the embedded default model: a
mixed batch (opted-in and plain requests, greedy and sampled, different prompts and
modes), the batch bookkeeping against vLLM's own BatchUpdate, option checks, and
one request served over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

# vLLM reads these when an engine starts: a small KV cache (it takes most of the
# machine's memory by default) and the engine in this process (no spawned core)
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

import pytest
import torch
from vllm import LLM, SamplingParams
from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality

from elmgrammar import parse_module
from elmgrammar.decode.state import ElmParseState
from elmgrammar.decode.stopping import unit_end
from elmgrammar.decode.vllm import ElmLogitsProcessor, elm_extra_args, elm_options
from elmgrammar.finetune import default_model_path
from fit import assert_draws_fit

MODEL = str(default_model_path())
ENGINE = dict(model=MODEL, dtype="float32", max_model_len=1024, max_num_seqs=16, seed=0, enforce_eager=True)

DECLARATION = "view : Model -> Html Msg\nview model ="
MODULE = "module Main exposing (main)\n\nimport Html\n\n\nmain ="
UPDATE = "update msg model =\n    case msg of\n"
EXPRESSION = "List.map (\\x ->"

# (prompt, mode or None for a plain request, sampling)
GREEDY = dict(temperature=0.0)
TOP_K = dict(temperature=0.8, top_k=50, seed=11)
TOP_P = dict(temperature=0.8, top_p=0.95, seed=12)
PLAIN = dict(temperature=1.0, seed=13)
BATCH = [
    (DECLARATION, "declarations", GREEDY),
    (DECLARATION, None, GREEDY),
    (MODULE, "module", TOP_K),
    (UPDATE, "declarations", TOP_P),
    (UPDATE, None, TOP_K),
    (EXPRESSION, "expression", PLAIN),
    (EXPRESSION, None, PLAIN),
    (MODULE, "declarations", GREEDY),
    (UPDATE, "declarations", dict(temperature=1.0, seed=14)),
    (DECLARATION, "declarations", dict(temperature=0.9, top_k=5, seed=15)),
]


def _params(mode: str | None, sampling: dict, max_tokens: int = 96, close: bool = True) -> SamplingParams:
    return SamplingParams(max_tokens=max_tokens, extra_args=elm_extra_args(mode, close=close) if mode else None,
                          **sampling)


@pytest.fixture(scope="module")
def runs():
    """The mixed batch through an engine with the processor, and its plain requests
    through an engine without it (one engine at a time)."""
    llm = LLM(**ENGINE, logits_processors=[ElmLogitsProcessor])
    mixed = llm.generate([p for p, _, _ in BATCH], [_params(m, s) for _, m, s in BATCH], use_tqdm=False)
    del llm
    plain = [(p, s) for p, m, s in BATCH if m is None]
    llm = LLM(**ENGINE)
    alone = llm.generate([p for p, _ in plain], [_params(None, s) for _, s in plain], use_tqdm=False)
    del llm
    return mixed, alone


def _kept(prompt: str, mode: str, text: str) -> str:
    """The completion up to where its unit ended (vLLM cannot cut it there)."""
    cut = unit_end(prompt, text, mode)
    return text if cut is None else text[:cut]


def test_opted_in_completions_are_viable_and_ended_ones_parse(runs, compiler):
    mixed, _ = runs
    ended = []
    for (prompt, mode, _), out in zip(BATCH, mixed):
        if mode is None:
            continue
        completion = out.outputs[0]
        text = _kept(prompt, mode, completion.text)
        assert ElmParseState(mode, prompt + text).is_viable(), (prompt, completion.text)
        if completion.finish_reason == "stop":
            assert ElmParseState(mode, prompt + text).is_complete(), (prompt, completion.text)
            if mode != "expression":
                ended.append(prompt + text)
    assert ended, "some opted-in completion should have ended"
    for text in ended:
        parse_module(text)
    verdicts = compiler.check_many(ended)
    assert all(v.valid for v in verdicts), [v for v in verdicts if not v.valid]


def test_opted_in_requests_end_whole_within_their_budget(runs):
    """Closing is on by default: a request the model would end unfinished, or whose
    max_tokens would cut it off, is finished by the grammar."""
    mixed, _ = runs
    for (prompt, mode, _), out in zip(BATCH, mixed):
        if mode is not None:
            text = _kept(prompt, mode, out.outputs[0].text)
            assert out.outputs[0].finish_reason == "stop", (prompt, out.outputs[0].text)
            assert ElmParseState(mode, prompt + text).is_complete(), (prompt, out.outputs[0].text)


def test_plain_requests_are_untouched(runs):
    mixed, alone = runs
    plain = [out for (_, mode, _), out in zip(BATCH, mixed) if mode is None]
    assert [o.outputs[0].token_ids for o in plain] == [o.outputs[0].token_ids for o in alone]


def test_the_same_prompt_unconstrained_leaves_the_grammar(runs):
    # the mask is what keeps the opted-in rows valid: the model alone does not
    _, alone = runs
    prompts = [p for p, m, _ in BATCH if m is None]
    assert any(not ElmParseState("declarations" if p != EXPRESSION else "expression", p + o.outputs[0].text).is_viable()
               for p, o in zip(prompts, alone))


@pytest.mark.parametrize("given, problem", [
    ({"elm": 3}, "must be a mode name or an object"),
    ({"elm": "statement"}, "mode'] must be one of module, declarations, expression"),
    ({"elm": {"mode": "statement"}}, "mode'] must be one of module, declarations, expression"),
    ({"elm": {"mode": "module", "stop": True}}, "unknown option 'stop'"),
    ({"elm": {"max_blank_lines": -1}}, "max_blank_lines'] must be a whole number"),
    ({"elm": {"stop_at_unit_end": "yes"}}, "stop_at_unit_end'] must be true or false"),
    ({"elm": {"close": "no"}}, "close'] must be true or false"),
])
def test_bad_options_are_refused_with_the_reason(given, problem):
    params = SamplingParams(extra_args=given)
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        ElmLogitsProcessor.validate_params(params)
    assert elm_options(SamplingParams()) is None
    assert elm_options(SamplingParams(extra_args={"other": 1})) is None
    # the flat form a served request's vllm_xargs takes
    flat = elm_options(SamplingParams(extra_args={"elm": "module", "elm_stop_at_unit_end": 0, "elm_max_blank_lines": -1,
                                                  "elm_close": 0}))
    assert (flat.mode, flat.stop_at_unit_end, flat.max_blank_lines, flat.close) == ("module", False, None, False)


@pytest.fixture(scope="module")
def processor() -> ElmLogitsProcessor:
    """The processor as an engine makes it, outside an engine (to drive its batch by hand)."""
    from vllm.config import ModelConfig, VllmConfig

    return ElmLogitsProcessor(VllmConfig(model_config=ModelConfig(model=MODEL, dtype="float32")),
                              torch.device("cpu"), False)


def _ids(processor: ElmLogitsProcessor, text: str) -> list[int]:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MODEL)(text, add_special_tokens=False)["input_ids"]


def test_rows_follow_adds_removes_moves_and_swaps(processor):
    greedy = _params("declarations", GREEDY)
    a_out, b_out, c_out = [], [], []
    prompt = _ids(processor, "x =")
    processor.update_state(BatchUpdate(3, removed=[], moved=[], added=[
        (0, greedy, prompt, a_out), (1, _params(None, GREEDY), prompt, b_out), (2, greedy, prompt, c_out)]))
    assert sorted(processor.rows) == [0, 2]
    a, c = processor.rows[0], processor.rows[2]
    # 2 moves onto 1 (its old occupant, plain, is overwritten), then 0 and 1 swap
    processor.update_state(BatchUpdate(2, removed=[], added=[], moved=[(2, 1, MoveDirectionality.UNIDIRECTIONAL),
                                                                       (0, 1, MoveDirectionality.SWAP)]))
    assert processor.rows == {0: c, 1: a}
    # a removed row is forgotten; a row added where a move left nothing is new
    processor.update_state(BatchUpdate(1, removed=[1], added=[(1, _params(None, GREEDY), prompt, [])], moved=[]))
    assert processor.rows == {0: c}
    processor.update_state(BatchUpdate(0, removed=[0], added=[], moved=[]))
    assert processor.rows == {}


def test_a_row_resyncs_when_its_output_list_changes_under_it(processor):
    out: list[int] = []
    processor.update_state(BatchUpdate(1, removed=[], moved=[], added=[
        (0, _params("declarations", GREEDY), _ids(processor, "x ="), out)]))
    row = processor.rows[0]
    logits = torch.zeros(1, len(processor.vocab))
    out += _ids(processor, " [ 1, 2")
    processor.apply(logits.clone())
    assert row.matcher.completion == " [ 1, 2"
    # recomputed after preemption, the request came back with other ids: roll back, replay
    out[:] = _ids(processor, " ( 1")
    masked = processor.apply(logits.clone())
    assert row.matcher.completion == " ( 1"
    allowed = {processor.vocab.pieces[t] for t in torch.nonzero(masked[0] > float("-inf")).flatten().tolist()}
    assert b" ]" not in allowed and (b" )" in allowed or b")" in allowed)
    # an id the mask did not allow (the engine ignored it): only EOS from there on
    out += _ids(processor, " ]")
    masked = processor.apply(logits.clone())
    assert torch.nonzero(masked[0] > float("-inf")).flatten().tolist() == [processor.eos_id]
    processor.update_state(BatchUpdate(0, removed=[0], added=[], moved=[]))


def test_a_request_the_model_would_end_unfinished_is_closed(processor):
    out: list[int] = []
    processor.update_state(BatchUpdate(1, removed=[], moved=[], added=[
        (0, _params("declarations", GREEDY), _ids(processor, "x = f (g [ a"), out)]))
    row = processor.rows[0]
    logits = torch.zeros(1, len(processor.vocab))
    logits[0, processor.eos_id] = 10.0  # the model would end here
    for _ in range(16):
        masked = processor.apply(logits.clone())
        allowed = torch.nonzero(masked[0] > float("-inf")).flatten().tolist()
        assert len(allowed) == 1
        if allowed == [processor.eos_id]:
            break
        out.append(allowed[0])
    assert row.matcher.completion == " ] )" and row.matcher.is_accepting()
    processor.update_state(BatchUpdate(0, removed=[0], added=[], moved=[]))
    # asked not to close, the request gets the mask alone: EOS refused (the program is
    # open), every allowed token tied for best kept, no closing forced
    processor.update_state(BatchUpdate(1, removed=[], moved=[], added=[
        (0, SamplingParams(max_tokens=96, extra_args=elm_extra_args("declarations", close=False), **GREEDY),
         _ids(processor, "x = f (g [ a"), [])]))
    masked = processor.apply(logits.clone())
    assert masked[0, processor.eos_id] == float("-inf") and (masked[0] > float("-inf")).sum() > 1
    processor.update_state(BatchUpdate(0, removed=[0], added=[], moved=[]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_served_request_that_opts_in(tmp_path):
    port = _free_port()
    log = open(tmp_path / "serve.log", "w")
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "1"}
    # `vllm serve` of the vllm-cpu distribution fails looking up the version of a
    # distribution named "vllm": its server module starts the same server
    server = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", MODEL,
                               "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
                               "--max-model-len", "1024", "--enforce-eager", "--served-model-name", "elm",
                               "--logits-processors", "elmgrammar.decode.vllm:ElmLogitsProcessor"],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not come up in 300 s"
                time.sleep(1)

        def complete(body: dict) -> tuple[int, dict]:
            request = urllib.request.Request(f"{url}/v1/completions", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    return response.status, json.load(response)
            except urllib.error.HTTPError as e:
                return e.code, json.load(e)

        body = {"model": "elm", "prompt": DECLARATION, "max_tokens": 64, "temperature": 0,
                "vllm_xargs": {"elm": "declarations"}}
        status, answer = complete(body)
        assert status == 200, answer
        text = _kept(DECLARATION, "declarations", answer["choices"][0]["text"])
        assert ElmParseState("declarations", DECLARATION + text).is_viable(), answer
        status, answer = complete({**body, "vllm_xargs": {"elm": "statement"}})
        assert status == 400 and "mode" in json.dumps(answer), answer
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def test_generate_command_on_vllm(tmp_path):
    # a process of its own, as a user runs it: stdout holds the completion alone
    done = subprocess.run([sys.executable, "-m", "elmgrammar.cli", "generate", "--engine", "vllm", "--prompt",
                           DECLARATION, "--max-new-tokens", "32", "--json"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = done.stdout.splitlines()
    record = json.loads(line)
    assert record["constrained"] and record["prompt"] == DECLARATION
    assert ElmParseState("declarations", record["prompt"] + record["text"]).is_viable(), record


def test_evaluate_command_on_vllm(tmp_path):
    # the evaluation on a vLLM engine in a process of its own: the three sides, every completion judged
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"prompt": DECLARATION}, {"prompt": UPDATE}]))
    done = subprocess.run([sys.executable, "-m", "elmgrammar.cli", "evaluate", str(prompts), "--engine", "vllm",
                           "--gen-per-prompt", "2", "--max-new-tokens", "32", "--out", str(tmp_path / "report"),
                           "--json", "--quiet"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "evaluation.json").read_text())
    assert "on vLLM (CPU)" in report["meta"]["described"]["model"]
    records = report["completions"]
    assert sorted((r["side"], r["prompt_index"]) for r in records) == sorted(
        (side, i) for side in ("constrained", "mask only", "unconstrained") for i in (0, 1) for _ in range(2))
    for r in records:
        if r["side"] != "unconstrained":
            assert ElmParseState("declarations", r["prompt"] + r["completion"]).is_viable(), r
            assert r["new_tokens"] <= 32
        if r["side"] == "constrained":  # closed by the grammar: whole within the budget
            assert ElmParseState("declarations", r["prompt"] + r["completion"]).is_complete(), r
    assert report["summary"]["constrained"]["timing"]["new_tokens"] > 0


@pytest.mark.parametrize("sampling, k", [(GREEDY, 1), (dict(temperature=0.8, top_k=5, top_p=0.999), 5)])
def test_greedy_and_top_k_rows_keep_what_the_full_mask_would(processor, sampling, k):
    # rows judged lazily (their best allowed tokens) against the same rows given the
    # full mask, on states of real text, with scores rounded so that they tie often
    text = "update msg model =\n    case msg of\n        Increment ->\n            { model | count = model.count + 1 }\n"
    ids = _ids(processor, text)
    lazy_out, full_out = [], []
    # the masks alone: no closing (random scores put EOS on top now and then)
    # (top-p alone: a row the processor gives the full mask)
    full_params = SamplingParams(temperature=0.8, top_p=0.95, extra_args=elm_extra_args("declarations", close=False))
    processor.update_state(BatchUpdate(2, removed=[], moved=[], added=[
        (0, _params("declarations", sampling, close=False), [], lazy_out), (1, full_params, [], full_out)]))
    assert (processor.rows[0].keep, processor.rows[1].keep) == (k, 0)
    def sampled_from(masked: torch.Tensor) -> torch.Tensor:
        """What vLLM's top-k (and greedy search) draws from: the k best, with ties."""
        best = torch.topk(masked, k).values[-1]
        return torch.nonzero((masked >= best) & (masked > float("-inf"))).flatten()

    generator = torch.Generator().manual_seed(0)
    narrower = 0
    for step, token_id in enumerate(ids):
        scores = torch.round(torch.randn(len(processor.vocab), generator=generator) * 2) / 2
        scores[token_id] += step % 3  # the true token among the best now and then
        masked = processor.apply(scores.repeat(2, 1))
        lazy, full = masked[0], masked[1]
        assert torch.equal(sampled_from(lazy), sampled_from(full)), step
        assert int(torch.argmax(lazy)) == int(torch.argmax(full))
        narrower += int((lazy > float("-inf")).sum()) < int((full > float("-inf")).sum())
        lazy_out.append(token_id)
        full_out.append(token_id)
    assert narrower > len(ids) // 2  # the lazy path decided most steps (the full mask is its fallback)
    processor.update_state(BatchUpdate(0, removed=[0, 1], added=[], moved=[]))


@pytest.mark.parametrize("prompt, spread, top_k", [
    ("view model =\n    div []\n        [ text model.", 2.0, 50),  # a field: few of the candidates allowed
    ("update msg model =\n    case msg of\n        Increment ->", 1.0, 20),  # flat
    ("main =", 3.0, None),  # every allowed token: draws beyond the candidates settled from the full mask
    ("x = 0x", 3.0, 4),  # hex digits only: draws keep being refused, the row takes its exact set
], ids=["field", "flat", "all-allowed", "refused"])
def test_sampled_rows_draw_from_the_distribution_of_the_full_mask(processor, prompt, spread, top_k):
    """A row sampled at a temperature keeps one token, drawn by the processor: over
    2,000 steps at one state, its frequencies fit the probabilities of the full mask
    followed by vLLM's temperature and top-k (a chi-square test at 0.1%), and it never
    keeps a token outside them."""
    sampling = dict(temperature=0.7, seed=5, **({"top_k": top_k} if top_k else {}))
    processor.update_state(BatchUpdate(1, removed=[], moved=[], added=[
        (0, _params("declarations", sampling, close=False), _ids(processor, prompt), [])]))
    row = processor.rows[0]
    assert row.draw
    scores = torch.randn(len(processor.vocab), generator=torch.Generator().manual_seed(3)) * spread
    allowed = torch.from_numpy(processor.masker.full_mask(row.matcher.state))
    reference = torch.where(allowed, scores / 0.7, float("-inf"))
    if top_k:  # vLLM's top-k keeps the k best and those tied with the last
        reference[reference < torch.topk(reference, top_k).values[-1]] = float("-inf")
    probs = torch.softmax(reference.double(), dim=-1)
    counts = torch.zeros(len(processor.vocab), dtype=torch.double)
    for _ in range(2_000):
        kept = torch.isfinite(processor.apply(scores[None].clone())[0]).nonzero().flatten()
        assert len(kept) == 1
        counts[kept] += 1
    assert counts[probs == 0].sum() == 0, "a token outside the sampling set was drawn"
    assert_draws_fit(counts, probs)
    processor.update_state(BatchUpdate(0, removed=[0], added=[], moved=[]))


class _Buffer:
    """One of Model Runner V2's request-state buffers, on the CPU: ``gpu`` the
    tensor, ``np`` its host copy (V2 itself needs a GPU and Triton)."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.gpu, self.np = tensor, tensor.numpy()


def _context(slots: list[int]):
    from vllm.v1.worker.gpu.sample.logits_processor.interface import LogitsContext

    mapping = torch.tensor(slots, dtype=torch.int32)
    zeros = torch.zeros(len(slots), dtype=torch.int32)
    return LogitsContext(expanded_idx_mapping=mapping, idx_mapping=mapping, idx_mapping_np=mapping.numpy(),
                         expanded_local_pos=zeros, input_ids=zeros, pos=zeros,
                         seq_lens_upper_bound_np=zeros.numpy())


def test_model_runner_v2_masks_as_the_v1_processor_does(processor):
    """The V2 class, fed through its interface (slots announced by add_request, rows
    in a new order at each step, ids read from the request state), keeps for each
    request what the V1 class keeps for it; it follows a history rewritten under
    it (preemption) and a slot given to a new request, and leaves plain rows alone."""
    from vllm.config import ModelConfig, VllmConfig
    from vllm.v1.worker.gpu.sample.logits_processor.interface import LogitsProcRequestState

    from elmgrammar.decode.vllm_v2 import ElmLogitsProcessorV2

    slots, length, vocab = 4, 256, len(processor.vocab)
    tokens, total, prompt_len = torch.zeros(slots, length, dtype=torch.int32), torch.zeros(slots, dtype=torch.int32), \
        torch.zeros(slots, dtype=torch.int32)
    state = LogitsProcRequestState(device=torch.device("cpu"), max_num_reqs=slots, vocab_size=vocab,
                                   all_token_ids=_Buffer(tokens), prompt_len=_Buffer(prompt_len),
                                   prefill_len=_Buffer(total.clone()), total_len=_Buffer(total))
    v2 = ElmLogitsProcessorV2(VllmConfig(model_config=ModelConfig(model=MODEL, dtype="float32")), state)
    requests = {2: (DECLARATION, _params("declarations", GREEDY, close=False)),
                0: (UPDATE, _params(None, GREEDY)),
                3: (UPDATE, _params("declarations", dict(temperature=0.8, top_k=5, seed=7), close=False)),
                1: (MODULE, _params("module", TOP_P, close=False))}  # (top-p: the full mask)
    outputs = {slot: [] for slot in requests}
    for slot, (prompt, params) in requests.items():
        ids = _ids(processor, prompt)
        tokens[slot, :len(ids)] = torch.tensor(ids)
        prompt_len[slot] = total[slot] = len(ids)
        assert v2.add_request(slot, params) == (slot != 0)
    # the V1 class, the same requests in rows 0, 1, 2, 3 (slots 2, 0, 3, 1)
    v1_row = {2: 0, 0: 1, 3: 2, 1: 3}
    processor.update_state(BatchUpdate(3, removed=[], moved=[], added=[
        (v1_row[slot], params, _ids(processor, prompt), outputs[slot]) for slot, (prompt, params) in requests.items()]))
    generator = torch.Generator().manual_seed(1)

    def step(order: list[int]) -> None:
        scores = {slot: torch.randn(vocab, generator=generator) * 3 for slot in order}
        masked = v2.apply(torch.stack([scores[s] for s in order]), _context(order))
        reference = processor.apply(torch.stack([scores[s] for s in sorted(v1_row, key=v1_row.get)]))
        for r, slot in enumerate(order):
            if slot in v2._slots:  # the two followed the same ids
                assert v2._slots[slot].matcher.completion == processor.rows[v1_row[slot]].matcher.completion
            kept = torch.isfinite(masked[r])
            assert torch.equal(kept, torch.isfinite(reference[v1_row[slot]])), slot
            if slot == 0:
                assert torch.equal(masked[r], scores[slot])  # a plain row, untouched
            token = int(torch.argmax(masked[r]))  # what the sampler takes (one kept token, or the best)
            outputs[slot].append(token)
            tokens[slot, int(total[slot])] = token
            total[slot] += 1

    for i in range(10):
        step([[2, 0, 3, 1], [3, 1, 2, 0], [1, 0, 3, 2]][i % 3])
    assert v2.rows and all(v2._slots[s].matcher.completion == processor.rows[v1_row[s]].matcher.completion
                           for s in (2, 3))
    # preempted and recomputed: slot 2's history is rewritten under the processor
    rewritten = _ids(processor, " [ 1, 2")
    start = int(prompt_len[2])
    tokens[2, start:start + len(rewritten)] = torch.tensor(rewritten)
    total[2] = start + len(rewritten)
    outputs[2][:] = rewritten
    step([3, 2, 1, 0])
    assert v2._slots[2].matcher.completion.startswith(" [ 1, 2")
    # slot 3 is given to a plain request: its row is left alone from then on
    assert v2.add_request(3, _params(None, GREEDY)) is False
    scores = torch.randn(2, vocab, generator=generator)
    assert torch.equal(v2.apply(scores.clone(), _context([3, 0])), scores)
    processor.update_state(BatchUpdate(0, removed=[0, 1, 2, 3], added=[], moved=[]))


def test_model_runner_v2_loads_its_class_by_name_and_refuses_the_v1_one():
    from vllm.v1.worker.gpu.sample.logits_processor.loader import _load_v2_logitsprocs_by_fqcns

    from elmgrammar.decode.vllm_v2 import ElmLogitsProcessorV2

    assert _load_v2_logitsprocs_by_fqcns(["elmgrammar.decode.vllm_v2:ElmLogitsProcessorV2"]) == [ElmLogitsProcessorV2]
    with pytest.raises(ValueError, match="not a subclass"):
        _load_v2_logitsprocs_by_fqcns(["elmgrammar.decode.vllm:ElmLogitsProcessor"])
