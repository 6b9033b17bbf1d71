"""Make the project's own golden fixtures (moe-mixed, dense-odd, dense-long, dense-yarn, dense-yarn-mscale,
dense-linear) with the float64 reference.

usage: /usr/bin/python3 tests/Fixtures/make_fixtures.py [case ...]      (default: all cases)

Needs python3 with torch and numpy (Debian: apt-get install python3-torch python3-numpy). The reference
(qwen3_ref.py, st_io.py) is a committed copy in tests/Fixtures/reference/ (origin: reference/README.md), so
this script runs from a fresh clone. Output: tests/Fixtures/golden/<case>/{config.json, model.safetensors,
expected.safetensors, README.md}, in exactly the format of golden/README.md.

How a case is made (the recipe of the three shared cases):
  * weights: ref.init_params(cfg, seed) in float64 (N(0,0.02) matrices, 1+0.1*N(0,1) norm weights), rounded to
    float32; the float64 reference then runs on exactly those float32 values;
  * input_ids: torch.randint(0, V, (B, T)) from torch.Generator().manual_seed(input_seed); labels = input_ids;
  * the weight seed is the first seed from `seed` upwards whose discrete decisions have margins far above float32
    noise: smallest top-1 minus top-2 logit over the greedy steps >= MIN_GREEDY_MARGIN, and (MoE) smallest gap
    between consecutive sorted routing probabilities among the top k+1 (so the k experts AND their order are
    stable) over every token of the fixture and of the greedy sequence, every sparse layer >= MIN_ROUTE_GAP;
  * expected values in float64, stored as float32; AdamW is fed the stored float32 gradients;
  * the same reference is then run entirely in float32 and its error against the stored values is written into
    the case README, with the margin it leaves inside the suggested tolerances.
The output is deterministic (torch CPU, one thread): rerunning rewrites identical files.
"""

import json
import math
import os
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "reference"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import qwen3_ref as ref  # noqa: E402
import st_io  # noqa: E402

MIN_GREEDY_MARGIN = 2e-3   # float32 logits error of the reference is ~2e-7
MIN_ROUTE_GAP = 1e-4       # float32 router probability error is ~1e-8
GREEDY_PROMPT, GREEDY_NEW = 5, 8

# Suggested tolerances of golden/README.md: (rtol, atol)
TOL = {"logits": (1e-4, 1e-5), "loss": (1e-5, 1e-6), "router": (1e-4, 1e-5), "grad": (1e-3, 1e-6),
       "adamw": (1e-6, 1e-7)}


def base_config(model_type, **kw):
    """config.json in the key order of the shared fixtures."""
    c = OrderedDict()
    c["architectures"] = ["Qwen3MoeForCausalLM" if model_type == "qwen3_moe" else "Qwen3ForCausalLM"]
    c["model_type"] = model_type
    for k in ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "head_dim"]:
        c[k] = kw.pop(k)
    c["hidden_act"] = "silu"
    c["max_position_embeddings"] = kw.pop("max_position_embeddings")
    c["initializer_range"] = 0.02
    c["rms_norm_eps"] = 1e-06
    c["rope_theta"] = float(kw.pop("rope_theta"))
    c["rope_scaling"] = kw.pop("rope_scaling", None)
    c["tie_word_embeddings"] = kw.pop("tie_word_embeddings")
    c["attention_bias"] = False
    c["attention_dropout"] = 0.0
    c["use_sliding_window"] = False
    c["sliding_window"] = None
    c["max_window_layers"] = c["num_hidden_layers"]
    c["use_cache"] = True
    c["torch_dtype"] = "float32"
    for k in ["decoder_sparse_step", "mlp_only_layers", "moe_intermediate_size", "num_experts",
              "num_experts_per_tok", "norm_topk_prob", "output_router_logits", "router_aux_loss_coef"]:
        if k in kw:
            c[k] = kw.pop(k)
    assert not kw, kw
    return c


CASES = OrderedDict()

# (a) Qwen3-MoE with the options the shared `moe` case does not use: no renormalisation of the top-k weights,
# 8 experts top-3, decoder_sparse_step 2 AND an mlp_only_layers entry. Six layers, because with four
# (sparse = {1, 3} by the step rule) any mlp_only_layers entry that matters leaves a single sparse layer and the
# aux loss would no longer pool over layers: here step 2 gives {1, 3, 5}, mlp_only_layers [3] removes 3 -> [1, 5].
CASES["moe-mixed"] = dict(
    config=base_config("qwen3_moe", vocab_size=96, hidden_size=32, intermediate_size=40, num_hidden_layers=6,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
                       rope_theta=10000, tie_word_embeddings=False, decoder_sparse_step=2, mlp_only_layers=[3],
                       moe_intermediate_size=12, num_experts=8, num_experts_per_tok=3, norm_topk_prob=False,
                       output_router_logits=True, router_aux_loss_coef=0.01),
    B=2, T=9, seed=3000, input_seed=4000,
    what="8 experts top-3, `norm_topk_prob: false`, decoder_sparse_step 2 + mlp_only_layers [3] (sparse 1, 5; "
         "dense 0, 2, 3, 4), untied, aux coef 0.01")

# (b) Odd sizes so that no vector width divides anything: SIMD tails everywhere.
CASES["dense-odd"] = dict(
    config=base_config("qwen3", vocab_size=300, hidden_size=40, intermediate_size=56, num_hidden_layers=3,
                       num_attention_heads=6, num_key_value_heads=3, head_dim=12, max_position_embeddings=64,
                       rope_theta=5000000, tie_word_embeddings=False),
    B=3, T=19, seed=3100, input_seed=4100,
    what="odd sizes for SIMD tails: hidden 40, head_dim 12, 6 / 3 heads, ffn 56, vocab 300, T 19, B 3, "
         "rope_theta 5e6, untied")

# (c) A sequence longer than the generated attention's key block (64): three blocks (64 + 64 + 2), RoPE at
# positions up to 129, one query head group of 4 sharing a single KV head.
CASES["dense-long"] = dict(
    config=base_config("qwen3", vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=1, head_dim=16, max_position_embeddings=160,
                       rope_theta=10000, tie_word_embeddings=True),
    B=1, T=130, seed=3200, input_seed=4200,
    what="T 130 > the attention key block (64), B 1, 4 q heads / 1 kv head, tied, rope_theta 1e4")


# (d)-(f) RoPE scaling with positions past the trained context (original_max_position_embeddings), small head
# dims and small original lengths so that the ramp of YaRN lies inside [0, head_dim/2) and the files stay small.
# max_position_embeddings = factor * original (both readings of the factor agree there; spec 2.3.1).
# dense-yarn: the model card's form (factor, original only): beta 32/1, truncated ramp over dims 0..5 of 16,
# attention factor 0.1 ln 4 + 1; prompt and greedy steps run to position 87 > 64.
CASES["dense-yarn"] = dict(
    config=base_config("qwen3", vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=256,
                       rope_theta=10000, tie_word_embeddings=True,
                       rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64}),
    B=1, T=80, seed=3300, input_seed=4300, greedy_prompt=80, greedy_new=8,
    what="YaRN factor 4 over original_max_position_embeddings 64 (defaults: beta 32/1, truncate, attention factor "
         "0.1 ln 4 + 1), head_dim 32, T 80 and greedy to position 87: past the trained context")

# dense-yarn-mscale: every optional YaRN field: beta 16/2, truncate false (fractional ramp bounds 0.49..4.75),
# attention factor from mscale / mscale_all_dim, old "type" key, factor 2.5 over 128 trained positions.
CASES["dense-yarn-mscale"] = dict(
    config=base_config("qwen3", vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=320,
                       rope_theta=50, tie_word_embeddings=False,
                       rope_scaling={"type": "yarn", "factor": 2.5, "original_max_position_embeddings": 128,
                                     "beta_fast": 16, "beta_slow": 2, "truncate": False,
                                     "mscale": 0.8, "mscale_all_dim": 1.0}),
    B=1, T=150, seed=3400, input_seed=4400, greedy_prompt=140, greedy_new=8,
    what="YaRN factor 2.5 over 128 with beta 16/2, truncate false, mscale 0.8 / mscale_all_dim 1.0, `type` key, "
         "rope_theta 50, untied, T 150 and greedy to position 147")

# dense-linear: linear position interpolation (every frequency / 2).
CASES["dense-linear"] = dict(
    config=base_config("qwen3", vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
                       rope_theta=10000, tie_word_embeddings=True,
                       rope_scaling={"rope_type": "linear", "factor": 2.0}),
    B=2, T=40, seed=3500, input_seed=4500,
    what="linear RoPE scaling factor 2, B 2, T 40")


# --------------------------------------------------------------------------

def sorted_gaps(router_logits, k):
    """Smallest gap between consecutive sorted probabilities among the top k+1 of every row."""
    p = torch.softmax(router_logits, dim=-1)
    top = torch.topk(p, min(k + 1, p.shape[-1]), dim=-1).values
    return float((top[:, :-1] - top[:, 1:]).min())


def greedy_shape(case):
    return case.get("greedy_prompt", GREEDY_PROMPT), case.get("greedy_new", GREEDY_NEW)


def margins(p64, cfg, ids, case):
    """(greedy ids, smallest greedy margin, smallest routing gap or None)."""
    prompt, new = greedy_shape(case)
    with torch.no_grad():
        g_ids, g_margins = ref.greedy(p64, cfg, ids[:1, :prompt], new)
        gap = None
        if cfg.is_moe:
            k = cfg.num_experts_per_tok
            a = ref.forward(p64, cfg, ids)["router_logits"]
            b = ref.forward(p64, cfg, g_ids)["router_logits"]   # causal: covers every greedy step's routing
            gap = min(sorted_gaps(x, k) for x in a + b)
    return g_ids, min(g_margins), gap


def draw(cfg, seed, input_seed, B, T):
    p32 = OrderedDict((k, v.to(torch.float32)) for k, v in ref.init_params(cfg, seed).items())
    g = torch.Generator().manual_seed(input_seed)
    ids = torch.randint(0, cfg.vocab_size, (B, T), generator=g)
    return p32, ids


def choose_seed(cfg, case):
    for seed in range(case["seed"], case["seed"] + 500):
        p32, ids = draw(cfg, seed, case["input_seed"], case["B"], case["T"])
        p64 = OrderedDict((k, v.to(torch.float64)) for k, v in p32.items())
        g_ids, gm, gap = margins(p64, cfg, ids, case)
        ok = gm >= MIN_GREEDY_MARGIN and (gap is None or gap >= MIN_ROUTE_GAP)
        print("  seed %d: greedy margin %.2e%s%s" % (seed, gm, "" if gap is None else ", routing gap %.2e" % gap,
                                                      "  <- chosen" if ok else ""))
        if ok:
            return seed, p32, p64, ids, g_ids, gm, gap
    raise RuntimeError("no seed with the required margins")


def outputs(params, cfg, ids):
    """Everything stored in expected.safetensors except input_ids/greedy/adamw, in params' dtype."""
    out, g = ref.grads(params, cfg, ids, debug=True)
    return out, g


def to32(t):
    return t.detach().to(torch.float32).numpy()


def err_table_row(name, got, exp, tol):
    got = got.to(torch.float64).reshape(-1)
    exp = exp.to(torch.float64).reshape(-1)
    err = (got - exp).abs()
    allowed = tol[1] + tol[0] * exp.abs()
    margin = float((allowed / err.clamp_min(1e-300)).min())
    return name, float(err.max()), float(exp.abs().max()), tol, margin


def make(name, case):
    print(name)
    cfg_dict = case["config"]
    cfg = ref.Qwen3Config(cfg_dict)
    seed, p32, p64, ids, g_ids, gm, gap = choose_seed(cfg, case)
    B, T = case["B"], case["T"]
    out, g = outputs(p64, cfg, ids)
    g32 = OrderedDict((k, v.to(torch.float32)) for k, v in g.items())
    new = ref.adamw_one_step_torch(p64, OrderedDict((k, v.to(torch.float64)) for k, v in g32.items()))
    new_formula = OrderedDict((k, ref.adamw_one_step_formula(p64[k], g32[k].to(torch.float64), 1e-3, (0.9, 0.95), 1e-8,
                                                             ref.weight_decay_for(k, p64[k].shape, 0.1)))
                              for k in p64)
    adamw_vs_formula = max(float((new[k] - new_formula[k]).abs().max()) for k in p64)

    exp = OrderedDict()
    exp["input_ids"] = ids.numpy().astype(np.int64)
    exp["logits"] = to32(out["logits"])
    exp["loss"] = to32(out["loss"].reshape(1))
    exp["total_loss"] = to32(out["total_loss"].reshape(1))
    if cfg.is_moe:
        exp["aux_loss"] = to32(out["aux_loss"].reshape(1))
        for L, rl, w, s in zip(out["router_layers"], out["router_logits"], out["routing_weights"],
                               out["selected_experts"]):
            exp["router_logits.%d" % L] = to32(rl)
            exp["routing_weights.%d" % L] = to32(w)
            exp["selected_experts.%d" % L] = s.numpy().astype(np.int64)
    for k in p64:
        exp["grad." + k] = g32[k].numpy()
        exp["adamw." + k] = to32(new[k])
    exp["greedy.ids"] = g_ids.numpy().astype(np.int64)
    exp["debug.embed"] = to32(out["debug.embed"])
    for i in range(cfg.num_hidden_layers):
        exp["debug.layer_out.%d" % i] = to32(out["debug.layer_out.%d" % i])
    exp["debug.final_norm"] = to32(out["debug.final_norm"])
    exp["debug.rope_cos"] = to32(out["debug.rope_cos"])
    exp["debug.rope_sin"] = to32(out["debug.rope_sin"])

    d = os.path.join(HERE, "golden", name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg_dict, f, indent=2)
        f.write("\n")
    st_io.save(os.path.join(d, "model.safetensors"), OrderedDict((k, v.numpy()) for k, v in p32.items()),
               {"format": "pt"})
    st_io.save(os.path.join(d, "expected.safetensors"), exp, {"format": "pt", "producer": "qwen3_ref.py float64"})

    # ---- the same reference entirely in float32, against the stored values ----
    out32, gr32 = outputs(p32, cfg, ids)
    st = {k: torch.from_numpy(v) for k, v in exp.items()}
    rows = [err_table_row("logits", out32["logits"], st["logits"], TOL["logits"]),
            err_table_row("loss", out32["loss"].reshape(1), st["loss"], TOL["loss"])]
    if cfg.is_moe:
        rows.append(err_table_row("aux_loss", out32["aux_loss"].reshape(1), st["aux_loss"], TOL["loss"]))
    rows.append(err_table_row("total_loss", out32["total_loss"].reshape(1), st["total_loss"], TOL["loss"]))
    if cfg.is_moe:
        rl32 = torch.cat([x.reshape(-1) for x in out32["router_logits"]])
        rl = torch.cat([st["router_logits.%d" % L].reshape(-1) for L in out32["router_layers"]])
        rows.append(err_table_row("router_logits.*", rl32, rl, TOL["router"]))
        rw32 = torch.cat([x.reshape(-1) for x in out32["routing_weights"]])
        rw = torch.cat([st["routing_weights.%d" % L].reshape(-1) for L in out32["router_layers"]])
        rows.append(err_table_row("routing_weights.*", rw32, rw, TOL["router"]))
        sel_same = all(torch.equal(s, st["selected_experts.%d" % L])
                       for L, s in zip(out32["router_layers"], out32["selected_experts"]))
    gcat32 = torch.cat([gr32[k].reshape(-1) for k in p64])
    gcat = torch.cat([st["grad." + k].reshape(-1) for k in p64])
    rows.append(err_table_row("grad.* (all tensors)", gcat32, gcat, TOL["grad"]))
    grad_rel = max(float((gr32[k].to(torch.float64) - st["grad." + k].to(torch.float64)).abs().max()
                         / st["grad." + k].to(torch.float64).abs().max().clamp_min(1e-30)) for k in p64)
    new32 = ref.adamw_one_step_torch(p32, g32)     # optimizer fed with the stored gradients, in float32
    acat32 = torch.cat([new32[k].reshape(-1) for k in p64])
    acat = torch.cat([st["adamw." + k].reshape(-1) for k in p64])
    rows.append(err_table_row("adamw.* (optimizer fed with the stored grad.*)", acat32, acat, TOL["adamw"]))
    e2e = ref.adamw_one_step_torch(p32, gr32)     # float32 gradients of the float32 run
    ecat = torch.cat([e2e[k].reshape(-1) for k in p64])
    big = gcat.abs() >= 1e-5
    rows.append(err_table_row("adamw.* end-to-end, elements with |grad| >= 1e-05", ecat[big], acat[big], TOL["adamw"]))
    e2e_all = float((ecat.to(torch.float64) - acat.to(torch.float64)).abs().max())
    n_small = int((~big).sum())
    with torch.no_grad():
        g32_ids, _ = ref.greedy(p32, cfg, ids[:1, :greedy_shape(case)[0]], greedy_shape(case)[1])
        hf_rope = ref.forward(p64, cfg, ids, hf_rope_fp32=True)["logits"]
    rope_delta = float((hf_rope - out["logits"]).abs().max())

    write_readme(d, name, case, cfg, seed, ids, exp, out, gm, gap, rows, grad_rel, e2e_all, n_small, gcat.numel(),
                 torch.equal(g32_ids, g_ids), sel_same if cfg.is_moe else None, rope_delta, adamw_vs_formula)
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print("  wrote %s (%d bytes); loss %.9f, greedy %s" % (d, size, float(out["loss"]), g_ids[0].tolist()))


def write_readme(d, name, case, cfg, seed, ids, exp, out, gm, gap, rows, grad_rel, e2e_all, n_small, n_grad,
                 greedy_same, sel_same, rope_delta, adamw_vs_formula):
    c = case["config"]
    B, T = case["B"], case["T"]
    H, D, nq, nkv = cfg.hidden_size, cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
    sparse = cfg.sparse_layers()
    dense = [i for i in range(cfg.num_hidden_layers) if i not in sparse]
    n_params = len(ref.param_shapes(cfg))
    L = []
    w = L.append
    w("# Golden fixture `%s`\n" % name)
    w("Made by `tests/Fixtures/make_fixtures.py` with the float64 reference (`tests/Fixtures/reference/qwen3_ref.py`,")
    w("a copy of the project's shared reference). Format and conventions: `../README.md`. What it exercises: %s.\n"
      % case["what"])
    w("## Configuration\n")
    w("| field | value |")
    w("| --- | --- |")
    w("| model_type / architectures | `%s` / `%s` |" % (c["model_type"], c["architectures"][0]))
    w("| vocab_size | %d |" % cfg.vocab_size)
    w("| hidden_size | %d |" % H)
    w("| num_hidden_layers | %d |" % cfg.num_hidden_layers)
    w("| num_attention_heads / num_key_value_heads | %d / %d (group size %d) |" % (nq, nkv, nq // nkv))
    w("| head_dim | %d (q_proj out = %d, k/v_proj out = %d) |" % (D, nq * D, nkv * D))
    if cfg.is_moe:
        w("| intermediate_size (dense layers only) | %d |" % cfg.intermediate_size)
        w("| num_experts / num_experts_per_tok | %d / %d |" % (cfg.num_experts, cfg.num_experts_per_tok))
        w("| moe_intermediate_size | %d |" % cfg.moe_intermediate_size)
        w("| norm_topk_prob | %s |" % str(cfg.norm_topk_prob).lower())
        w("| decoder_sparse_step / mlp_only_layers | %d / %s |" % (cfg.decoder_sparse_step, cfg.mlp_only_layers))
        w("| sparse (MoE) layers | %s |" % sparse)
        w("| dense layers | %s |" % dense)
        w("| router_aux_loss_coef / output_router_logits | %g / true |" % cfg.router_aux_loss_coef)
    else:
        w("| intermediate_size | %d |" % cfg.intermediate_size)
    w("| rope_theta | %g |" % cfg.rope_theta)
    w("| rms_norm_eps | %g |" % cfg.rms_norm_eps)
    w("| max_position_embeddings | %d |" % c["max_position_embeddings"])
    if c.get("rope_scaling"):
        w("| rope_scaling | `%s` |" % json.dumps(c["rope_scaling"]))
        w("| rope scaling as resolved by the reference | `%s` |" % json.dumps(cfg.rope_scaling, sort_keys=True))
    w("| tie_word_embeddings | %s |" % str(cfg.tie_word_embeddings).lower())
    w("| batch B, sequence T | %d, %d |" % (B, T))
    w("| weight seed / input seed | %d / %d (torch.Generator; the weight seed is the first from %d up with the margins below) |"
      % (seed, case["input_seed"], case["seed"]))
    w("")
    w("Weights: N(0, 0.02) for every matrix and the embedding, 1 + 0.1*N(0,1) for every RMSNorm weight;")
    w("drawn in float64 and rounded to float32; the float64 reference runs on exactly the float32 values.")
    w("input_ids = torch.randint(0, %d, (%d, %d)) from the input seed.\n" % (cfg.vocab_size, B, T))
    w("## Files\n")
    w("- `config.json`: Hugging Face format.")
    w("- `model.safetensors`: %d F32 tensors, HF key names%s." % (
        n_params, "; tied, so there is no `lm_head.weight` (the LM head is `model.embed_tokens.weight`)"
        if cfg.tie_word_embeddings else ""))
    w("- `expected.safetensors`:")
    w("  - `input_ids` I64 [%d,%d]; labels = input_ids" % (B, T))
    w("  - `logits` F32 [%d,%d,%d]" % (B, T, cfg.vocab_size))
    w("  - `loss` F32 [1]: mean next-token cross-entropy over the %d shifted targets" % (B * (T - 1)))
    if cfg.is_moe:
        w("  - `aux_loss` F32 [1]: load-balancing loss over the sparse layers %s pooled" % sparse)
        w("  - `total_loss` F32 [1] = loss + %g * aux_loss" % cfg.router_aux_loss_coef)
        w("  - `router_logits.<layer>` F32 [%d,%d] for layer in %s (row = b*T + t)" % (B * T, cfg.num_experts, sparse))
        w("  - `routing_weights.<layer>` F32 [%d,%d] and `selected_experts.<layer>` I64 [%d,%d]: top-k (descending "
          "probability)%s" % (B * T, cfg.num_experts_per_tok, B * T, cfg.num_experts_per_tok,
                              ", renormalised" if cfg.norm_topk_prob else ", NOT renormalised (the raw softmax probabilities)"))
    else:
        w("  - `total_loss` F32 [1] = loss (dense model)")
    w("  - `grad.<param key>` F32: d(total_loss)/d(param), for all %d parameters" % n_params)
    w("  - `adamw.<param key>` F32: the parameter after one AdamW step (lr=1e-3, betas=(0.9,0.95), eps=1e-8,")
    w("    weight_decay=0.1 for tensors with ndim>=2, 0 for the 1-D norm weights; fresh optimizer state)")
    gp, gn = greedy_shape(case)
    w("  - `greedy.ids` I64 [1,%d]: `input_ids[0,:%d]` followed by %d greedy tokens (full recompute, no stop token)"
      % (gp + gn, gp, gn))
    w("  - debugging aids: `debug.embed`, `debug.layer_out.<i>` (residual stream after layer i), `debug.final_norm` "
      "[B,T,H]; `debug.rope_cos`, `debug.rope_sin` [T,head_dim] (positions 0..T-1)\n")
    vals = "loss = %.9f" % float(out["loss"])
    if cfg.is_moe:
        vals += "; aux_loss = %.9f; total_loss = %.9f" % (float(out["aux_loss"]), float(out["total_loss"]))
    w("Values: %s; greedy.ids = %s\n" % (vals, exp["greedy.ids"][0].tolist()))
    rob = "smallest top-1 minus top-2 logit over the greedy steps = %.2e" % gm
    if gap is not None:
        rob += ("; smallest gap between consecutive sorted routing probabilities among the top k+1 (decides both the "
                "k experts and their order), over every token of input_ids and of greedy.ids and every sparse layer = %.2e"
                % gap)
    w("Robustness of the discrete decisions (float64): %s.\n" % rob)
    w("## Float32 vs this float64 reference (measured)\n")
    w("The same reference run entirely in float32 (same float32 weights) compared with the stored float64 values.")
    w("Suggested check, elementwise: `|x - expected| <= atol + rtol * |expected|`.\n")
    w("| quantity | max abs error (fp32 run) | max abs value | suggested rtol | suggested atol | margin of the fp32 run |")
    w("| --- | --- | --- | --- | --- | --- |")
    for nm, e, mx, tol, mg in rows:
        w("| %s | %.1e | %.1e | %g | %g | %s |" % (nm, e, mx, tol[0], tol[1], "%.0fx" % mg if mg < 1e6 else "exact"))
    w("")
    w("Gradient error relative to the largest |grad| of the same tensor (fp32 run, worst tensor): %.1e." % grad_rel)
    w("AdamW end-to-end (float32 gradients of the float32 run fed to AdamW), all elements: max abs error %.1e; %d of %d "
      "elements have |grad| < 1e-05 (ill-conditioned first step, see ../README.md)." % (e2e_all, n_small, n_grad))
    w("greedy.ids from the float32 run: %s." % ("identical" if greedy_same else "DIFFERENT"))
    if sel_same is not None:
        w("selected_experts.* from the float32 run: %s." % ("identical" if sel_same else "DIFFERENT"))
    w("Computing the RoPE cos/sin tables in float32 as HF does changes the float64 logits by at most %.1e." % rope_delta)
    if cfg.rope_scaling is not None:
        w("The cos/sin tables (and `debug.rope_cos` / `debug.rope_sin`) include the attention factor (%r)."
          % cfg.rope_scaling.get("attention_factor", 1.0))
    w("AdamW: torch.optim.AdamW and the written-out formula agree to %.1e.\n" % adamw_vs_formula)
    w("Margin = min over elements of allowed/actual error; the tolerances above leave at least that factor for")
    w("differences in summation order, fused multiply-add and transcendental functions in another implementation.")
    with open(os.path.join(d, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")


def main(argv):
    torch.set_num_threads(1)
    names = argv[1:] or list(CASES)
    for n in names:
        if n not in CASES:
            print("unknown case %r; cases: %s" % (n, ", ".join(CASES)))
            return 2
        make(n, CASES[n])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
