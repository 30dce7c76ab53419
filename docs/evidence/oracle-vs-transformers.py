# How it ran: oracle-gen (stripped, built here) and the fixtures were carried to the
# device in .dev/, the SmolLM2 GGUF in two parts (64 MiB carry limit) and imported
# there with `oracle-gen import-gguf` into /tmp/dev/ref; then `python3 check.py`.
# Device check: transformers (the reference everyone trusts) against oracle-gen's
# goldens, token for token, on the fixtures and SmolLM2; GPU bf16/f16 drift; and
# decode speed of transformers vs oracle-gen on the same CPU with 2 threads.
import json, os, subprocess, sys, time, traceback
import torch
from transformers import AutoModelForCausalLM
from tokenizers import Tokenizer

OUT = os.environ["OUT"]
R = {"torch": torch.__version__}
try:
    import transformers; R["transformers"] = transformers.__version__
except Exception: pass

def save():
    json.dump(R, open(os.path.join(OUT, "device.json"), "w"), indent=1)

def greedy(model, ids, n, eos, device, min_new=0):
    x = torch.tensor([ids], device=device)
    with torch.no_grad():
        out = model.generate(x, max_new_tokens=n, min_new_tokens=min_new, do_sample=False, eos_token_id=eos,
                             pad_token_id=eos, output_scores=True, return_dict_in_generate=True)
    toks = out.sequences[0, len(ids):].tolist()
    lps = [torch.log_softmax(s[0].float(), -1) for s in out.scores]
    return toks, lps

def compare(name, model_dir, goldens, device="cpu", dtype=torch.float32):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    res = {}
    for prompt, g in goldens.items():
        eos = g["eos"]
        toks, lps = greedy(model, g["prompt_tokens"], g["max_new_tokens"], eos, device)
        mism = sum(1 for a, b in zip(toks, g["tokens"]) if a != b) + abs(len(toks) - len(g["tokens"]))
        dl = [abs(float(lp[t["id"]]) - t["logprob"]) for lp, step in zip(lps, g["top_logprobs"]) for t in step[:1]]
        res[prompt] = {"mismatches": mism, "hf_tokens": toks, "golden_tokens": g["tokens"], "max_abs_dlogprob_top1": max(dl) if dl else None}
    return res

def load_goldens(d, eos):
    gs = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".json"):
            g = json.load(open(os.path.join(d, f))); g["eos"] = eos; gs[f[:-5]] = g
    return gs

og = "/tmp/dev/og"
# 1. fixtures: oracle-gen goldens written here, then transformers on CPU f32.
R["fixtures"] = {}
for arch in ["llama", "qwen2", "gpt2"]:
    try:
        d = f".dev/fx-{arch}"; gd = f"/tmp/dev/g-{arch}"
        subprocess.run([og, "golden", "--model-dir", d, "--slug", arch, "--model-id", arch, "--out-dir", gd] +
                       [f"prompts/{p}.txt" for p in ["arithmetic", "code", "completion", "greeting"]], check=True, capture_output=True)
        eos = 0 if arch == "gpt2" else 2
        R["fixtures"][arch] = compare(arch, d, load_goldens(gd, eos))
    except Exception:
        R["fixtures"][arch] = {"error": traceback.format_exc()[-2000:]}
    save()

# 2. SmolLM2 reference (imported here from the carried GGUF by oracle-gen).
ref = "/tmp/dev/ref"
try:
    gs = load_goldens("goldens/smollm2-135m-instruct", 2)
    R["smollm2_cpu_f32"] = compare("smollm2", ref, gs)
    save()
    if torch.cuda.is_available():
        R["gpu"] = torch.cuda.get_device_name(0)
        for name, dt in [("bf16", torch.bfloat16), ("f16", torch.float16), ("f32", torch.float32)]:
            R[f"smollm2_cuda_{name}"] = compare("smollm2", ref, gs, "cuda", dt)
            save()
except Exception:
    R["smollm2_error"] = traceback.format_exc()[-3000:]
save()

# 3. Speed, same CPU, 2 threads: transformers f32 decode vs oracle-gen.
try:
    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(ref, dtype=torch.float32).eval()
    ids = [504, 3575, 282, 4649, 314]
    best = {}
    for r in range(3):
        x = torch.tensor([ids])
        with torch.no_grad():
            t0 = time.perf_counter(); model(x); t1 = time.perf_counter()
            model.generate(x, max_new_tokens=32, min_new_tokens=32, do_sample=False, pad_token_id=2)
            t2 = time.perf_counter()
        pre = t1 - t0; dec = (t2 - t1) - pre
        best["prefill_tok_s"] = max(best.get("prefill_tok_s", 0), len(ids) / pre)
        best["decode_tok_s"] = max(best.get("decode_tok_s", 0), 31 / dec)
    R["transformers_cpu_2threads"] = best
    save()
    env = dict(os.environ, RAYON_NUM_THREADS="2")
    p = subprocess.run([og, "bench", "--model-dir", ref, "--repeat", "3"], capture_output=True, text=True, env=env)
    R["oracle_gen_cpu_2threads"] = p.stdout[-1500:] + p.stderr[-500:]
except Exception:
    R["speed_error"] = traceback.format_exc()[-2000:]
save()
print(json.dumps(R)[:6000])
