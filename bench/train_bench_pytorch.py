#!/usr/bin/env python3
"""The same Qwen3-architecture model and training step as bench/train_bench.cc, in PyTorch
(Debian's python3-torch), for a side-by-side speed comparison. Prints one JSON line."""
import argparse, json, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.float()).to(x.dtype)


def rotate(x, cos, sin):
    h = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        C, H, KV, D, I = c["hidden"], c["heads"], c["kv"], c["head_dim"], c["inter"]
        self.H, self.KV, self.D = H, KV, D
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(C, 1e-6), RMSNorm(C, 1e-6)
        self.q_proj, self.k_proj = nn.Linear(C, H * D, bias=False), nn.Linear(C, KV * D, bias=False)
        self.v_proj, self.o_proj = nn.Linear(C, KV * D, bias=False), nn.Linear(H * D, C, bias=False)
        self.q_norm, self.k_norm = RMSNorm(D, 1e-6), RMSNorm(D, 1e-6)
        self.gate_proj, self.up_proj = nn.Linear(C, I, bias=False), nn.Linear(C, I, bias=False)
        self.down_proj = nn.Linear(I, C, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_norm(self.q_proj(h).view(B, T, self.H, self.D)).transpose(1, 2)
        k = self.k_norm(self.k_proj(h).view(B, T, self.KV, self.D)).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.KV, self.D).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k = k.repeat_interleave(self.H // self.KV, 1)
        v = v.repeat_interleave(self.H // self.KV, 1)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(self.D)
        s = s.masked_fill(~mask, float("-inf"))
        p = torch.softmax(s.float(), -1).to(q.dtype)
        x = x + self.o_proj((p @ v).transpose(1, 2).reshape(B, T, self.H * self.D))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed = nn.Embedding(c["vocab"], c["hidden"])
        self.layers = nn.ModuleList([Layer(c) for _ in range(c["layers"])])
        self.norm = RMSNorm(c["hidden"], 1e-6)

    def forward(self, ids):
        B, T = ids.shape
        D = self.c["head_dim"]
        pos = torch.arange(T, dtype=torch.float64)
        inv = 1.0 / (1e6 ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
        f = pos[:, None] * inv
        emb = torch.cat([f, f], -1)
        cos, sin = emb.cos().float()[None, None], emb.sin().float()[None, None]
        mask = torch.ones(T, T, dtype=torch.bool).tril()[None, None]
        x = self.embed(ids)
        for l in self.layers:
            x = l(x, cos, sin, mask)
        return self.norm(x) @ self.embed.weight.t()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c = json.loads(a.config)
    torch.manual_seed(0)
    m = Model(c)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    ids = torch.randint(0, c["vocab"], (c["batch"], c["seq"] + 1))
    times = []
    for step in range(a.steps + 2):
        t0 = time.perf_counter()
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            logits = m(ids[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, c["vocab"]), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if step >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "bf16": a.bf16,
                      "tokens_per_s": c["batch"] * c["seq"] / med}))


if __name__ == "__main__":
    main()
