"""A tour of Tortoise's Python API (docs/api.md), written as notebook cells: run it as a script
(`python docs/examples/api_tour.py`) or open it in Jupyter or VS Code, which read the `# %%` markers as
cells. tests/test_api_tour.py runs it and checks what it prints."""

# %% One run, by names: a hardware preset and a bundled workload
import tempfile
from pathlib import Path

import simulator as ts

decode = ts.run("h100", "llama3_8b_decode")
s = decode.summary  # the dict `tortoise run --out` writes as summary.json
print(f"decode step: {s['seconds'] * 1e3:.3f} ms, {s['tokens_per_s']:.1f} tokens/s, MBU {s['mbu']:.1%}")

# %% Its tables are pandas DataFrames: per op group, and one row per op
groups = decode.breakdown.set_index("group")
print(f"largest op group: {groups['share'].idxmax()} ({groups['share'].max():.1%} of the time)")
ops = decode.table
print(f"{len(ops)} op rows; slowest: {ops.loc[ops['cycles'].idxmax(), 'name']}")

# %% A model and a scenario, as `tortoise run --model … --phase … --batch …`
prefill = ts.run("h100", model="llama3_8b", phase="prefill", batch=4, prompt=1024)
print(f"prefill of 4 × 1024 tokens: {prefill.summary['seconds'] * 1e3:.2f} ms, MFU {prefill.summary['mfu']:.1%}")

# %% Overrides, as `--set`: strings, or a dict of path → value (hardware and workload fields alike)
faster = ts.run("h100", "llama3_8b_decode", set={"memory.hbm.bandwidth": "6.7 TB/s", "scenario.batch": 8})
print(f"batch 8 on 6.7 TB/s HBM: {faster.summary['tokens_per_s']:.0f} tokens/s")

# %% A training step lands the same way: phase="train", with seq= for the sequence length
train = ts.run("h100", model="llama3_8b", phase="train", batch=4, seq=2048,
               set=["training.micro_batch=1", "scenario.check_capacity=false"])
print(f"training step: {train.summary['seconds'] * 1e3:.1f} ms, MFU {train.summary['mfu']:.1%}")

# %% Models on their own: parameters as Hugging Face counts them, from a bundled name or config.json fields
print(f"Mixtral-8x7B: {ts.model('mixtral_8x7b').params() / 1e9:.2f} B parameters")
gpt2 = ts.model({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257})
print(f"GPT-2 from its config fields: {gpt2.params() / 1e6:.1f} M parameters (tied head, 1024 positions)")

# %% A sweep file gives the table of all its points
with tempfile.TemporaryDirectory() as tmp:
    sweep_file = Path(tmp) / "batch.yaml"
    sweep_file.write_text("name: batch\nhardware: h100\nworkloads: [workloads/llama3_8b_decode.yaml]\n"
                          "axes:\n  scenario.batch: [1, 16]\n")
    points = ts.sweep(sweep_file, out=Path(tmp) / "out", workers=1)
    for _, row in points.iterrows():
        print(f"sweep: batch {row['scenario.batch']:>2}: {row['tokens_per_s']:.0f} tokens/s")

# %% Bad input raises the one-line error `tortoise` prints
try:
    ts.run("h100", model="llama3_8b", phase="prefill", prompt=100_000)
except ts.ConfigError as error:
    print(f"refused: {error}")
