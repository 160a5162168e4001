"""
Exploration only (docs/text.md, "How the weighted model was found"): a PyTorch re-implementation of
the text benchmark, fast enough to try many meta-training variants in minutes. Not the library, not
used by tests or CI; its numbers are indicative (its own random 90/30/30 intent split, 100 tasks).

Same features as src/text/tokenizer.ts (FNV-1a hashed word uni/bigrams and character trigrams,
8192 buckets; BUCKETS=n overrides), the embedding bag with a learned importance per feature
(weighted mean; importance frozen at 0 with --wr 0, which is the plain mean), a 64-64-5 head,
Reptile with the inner Adam's state kept across tasks, evaluation by 20 fresh-Adam steps on the
whole support set with 5 queries per class. Options:
  --algo reptile|scratch|joint|anil|idf   --iters N   --lr (inner rate)   --k (inner steps)
  --r (inner rate scale of the table)     --outer-r (meta-step scale of the table)
  --wr (inner rate scale of the importance) --os (meta-step scale of the importance)
  --mbs (tasks per meta-iteration)        --zh 1 (zero the last layer per task)  --ln 1 (layer norm)
  --eval-lrs a,b  --eval-rs a,b (table rate scale at evaluation)  --eval-wr x  --split val|test|train
Run with Debian's PyTorch: /usr/bin/python3 scripts/explore/text_prototype.py --r 0.1 --outer-r 10
"""
import json, re, sys, unicodedata, math, copy, argparse, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(1)

import os
DATA = os.environ.get('TEXT_DATA', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared/data/text'))
B = int(os.environ.get("BUCKETS", "8192"))
WR = 1.0
LN = False
OS = 1.0
def fnv(s):
    h = 2166136261
    for b in s.encode('utf-8'):
        h ^= b; h = (h * 16777619) & 0xffffffff
    return h
WRE = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
def feats(t):
    ws = WRE.findall(unicodedata.normalize('NFKC', t).lower())
    out = []
    for n in (1, 2):
        for i in range(len(ws) - n + 1): out.append('w%d:%s' % (n, ' '.join(ws[i:i+n])))
    for w in ws:
        c = '<' + w + '>'
        for i in range(len(c) - 2): out.append('c:' + c[i:i+3])
    return [fnv(f) % B for f in out[:256]]

def load_clinc():
    d = json.load(open(os.path.join(DATA, 'clinc150/data_full.json')))
    by = {}
    for s in ('train', 'val', 'test'):
        for t, l in d[s]: by.setdefault(l, []).append(t)
    return by
def load_banking():
    import csv
    by = {}
    for f in ('train', 'test'):
        for r in csv.DictReader(open(os.path.join(DATA, 'banking77/%s.csv' % f))): by.setdefault(r['category'], []).append(r['text'])
    return by

def prep(by):
    return {k: [torch.tensor(feats(t)) for t in v] for k, v in by.items()}

def batch(texts):
    offs = torch.tensor([0] + [len(t) for t in texts[:-1]]).cumsum(0)
    return torch.cat(texts), offs

class Net(nn.Module):
    def __init__(s, dim=64, hid=64, ways=5):
        super().__init__()
        s.emb = nn.EmbeddingBag(B, dim, mode='sum')
        nn.init.uniform_(s.emb.weight, -0.05, 0.05)
        s.l1 = nn.Linear(dim, hid); s.l2 = nn.Linear(hid, ways)
        for l in (s.l1, s.l2): nn.init.xavier_uniform_(l.weight); nn.init.zeros_(l.bias)
        s.w = nn.Parameter(torch.zeros(B))
    def forward(s, x):
        ids, offs = x
        lens = torch.diff(torch.cat([offs, torch.tensor([len(ids)])]))
        seg = torch.repeat_interleave(torch.arange(len(lens)), lens)
        ew = torch.exp(s.w[ids])
        tot = torch.zeros(len(lens)).index_add(0, seg, ew)
        m = s.emb(ids, offs, per_sample_weights=ew / tot[seg])
        if LN: m = F.layer_norm(m, m.shape[1:])
        return s.l2(F.relu(s.l1(m)))

def sample(rng, data, classes, ways, shots, queries):
    cs = rng.choice(classes, ways, replace=False)
    sup, qry = [], []
    for i, c in enumerate(cs):
        idx = rng.choice(len(data[c]), shots + queries, replace=False)
        sup += [(data[c][j], i) for j in idx[:shots]]; qry += [(data[c][j], i) for j in idx[shots:]]
    return sup, qry

def xy(ex):
    return batch([e[0] for e in ex]), torch.tensor([e[1] for e in ex])

def groups(net, lr, r):
    return [{'params': [net.emb.weight], 'lr': lr * r}, {'params': list(net.l1.parameters()) + list(net.l2.parameters()), 'lr': lr}, {'params': [net.w], 'lr': lr * WR}]

ZH = False
def adapt(net, sup, lr, r, steps):
    net = copy.deepcopy(net)
    if ZH:
        with torch.no_grad(): net.l2.weight.zero_(); net.l2.bias.zero_()
    opt = torch.optim.Adam(groups(net, lr, r), betas=(0, 0.999), eps=1e-8)
    x, y = xy(sup)
    for _ in range(steps):
        opt.zero_grad(); F.cross_entropy(net(x), y).backward(); opt.step()
    return net

def evaluate(net, data, classes, shots, n, lr, r, steps=20, seed=1, reset_head=False):
    rng = np.random.RandomState(seed); acc = []
    for _ in range(n):
        sup, qry = sample(rng, data, classes, 5, shots, 5)
        a = adapt(net, sup, lr, r, steps)
        x, y = xy(qry)
        with torch.no_grad(): acc.append((a(x).argmax(1) == y).float().mean().item())
    acc = np.array(acc); return 100 * acc.mean(), 196 * acc.std() / math.sqrt(n)

def reptile(data, classes, iters, lr, r, inner_steps=5, inner_batch=10, train_shots=10, meta_bs=5, eps=1.0, seed=0, algo='reptile', outer_r=1.0):
    torch.manual_seed(seed); net = Net(); rng = np.random.RandomState(seed)
    inner = torch.optim.Adam(groups(net, lr, r), betas=(0, 0.999))
    for it in range(iters):
        frac = it / iters; step = eps * (1 - frac)
        theta = [p.detach().clone() for p in net.parameters()]
        acc = [torch.zeros_like(p) for p in theta]
        for t in range(meta_bs):
            sup, _ = sample(rng, data, classes, 5, train_shots, 0)
            with torch.no_grad():
                for p, th in zip(net.parameters(), theta): p.copy_(th)
                if ZH: net.l2.weight.zero_(); net.l2.bias.zero_()
            order = rng.permutation(len(sup))
            for k in range(inner_steps):
                b = [sup[j] for j in order[(k * inner_batch) % len(sup):][:inner_batch]]
                x, y = xy(b)
                inner.zero_grad(); F.cross_entropy(net(x), y).backward(); inner.step()
            for a, p, th in zip(acc, net.parameters(), theta): a += (p.detach() - th) / meta_bs
        with torch.no_grad():
            for i, (p, th, a) in enumerate(zip(net.parameters(), theta, acc)):
                p.copy_(th + step * (outer_r if i == 0 else OS if i == 5 else 1.0) * a)
    return net

def joint(data, classes, iters, seed=0):
    torch.manual_seed(seed); net = Net(ways=len(classes)); rng = np.random.RandomState(seed)
    opt = torch.optim.Adam(net.parameters(), lr=0.001)
    allx = [(t, i) for i, c in enumerate(classes) for t in data[c]]
    for it in range(iters * 25):
        b = [allx[j] for j in rng.choice(len(allx), 10)]
        x, y = xy(b); opt.zero_grad(); F.cross_entropy(net(x), y).backward(); opt.step()
    out = Net(); out.emb = net.emb; out.l1 = net.l1; nn.init.zeros_(out.l2.weight)
    return out

def anil(data, classes, iters, lr, r, seed=0, meta_bs=5, steps=5):
    # first-order MAML: inner Adam (emb lr r*lr) on 5-shot support, outer grad of query loss at adapted params
    torch.manual_seed(seed); net = Net(); rng = np.random.RandomState(seed)
    outer = torch.optim.Adam(net.parameters(), lr=0.001)
    for it in range(iters):
        outer.zero_grad()
        for t in range(meta_bs):
            sup, qry = sample(rng, data, classes, 5, 5, 5)
            a = adapt(net, sup, lr, r, steps)
            x, y = xy(qry); a.zero_grad(); F.cross_entropy(a(x), y).backward()
            for p, q in zip(net.parameters(), a.parameters()):
                g = q.grad / meta_bs
                p.grad = g.clone() if p.grad is None else p.grad + g
        outer.step()
    return net

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--algo', default='reptile'); ap.add_argument('--iters', type=int, default=1000)
    ap.add_argument('--lr', type=float, default=0.001); ap.add_argument('--r', type=float, default=1.0)
    ap.add_argument('--outer-r', type=float, default=1.0)
    ap.add_argument('--eval-lrs', default='0.003,0.01,0.03'); ap.add_argument('--eval-rs', default='1')
    ap.add_argument('--n', type=int, default=100); ap.add_argument('--split', default='val')
    ap.add_argument('--save', default=''); ap.add_argument('--wr', type=float, default=1.0); ap.add_argument('--zh', type=int, default=0); ap.add_argument('--mbs', type=int, default=5); ap.add_argument('--eps', type=float, default=1.0); ap.add_argument('--ln', type=int, default=0); ap.add_argument('--os', type=float, default=1.0); ap.add_argument('--seed', type=int, default=0); ap.add_argument('--eval-wr', default=''); ap.add_argument('--k', type=int, default=5)
    a = ap.parse_args()
    globals()['WR'] = a.wr; globals()['LN'] = bool(a.ln); globals()['OS'] = a.os; globals()['ZH'] = bool(a.zh)
    t0 = time.time()
    by = prep(load_clinc()); names = sorted(by); rng = np.random.RandomState(0); perm = rng.permutation(len(names))
    tr = [names[i] for i in perm[:90]]; va = [names[i] for i in perm[90:120]]; te = [names[i] for i in perm[120:]]
    WR = a.wr
    if a.algo == 'scratch':
        torch.manual_seed(0); net = Net()
    elif a.algo == 'idf':
        torch.manual_seed(0); net = Net()
        n = torch.zeros(B)
        for c in tr:
            n[torch.unique(torch.cat(by[c]))] += 1
        w = torch.log(torch.log(91 / (1 + n)))
        with torch.no_grad(): net.w.copy_(w)
    elif a.algo == 'joint':
        net = joint(by, tr, a.iters)
    elif a.algo == 'anil':
        net = anil(by, tr, a.iters, a.lr, a.r)
    else:
        net = reptile(by, tr, a.iters, a.lr, a.r, outer_r=a.outer_r, meta_bs=a.mbs, eps=a.eps, seed=a.seed, inner_steps=a.k)
    if a.save: torch.save(net, a.save)
    print('trained', time.time() - t0, flush=True)
    split = {'val': va, 'test': te, 'train': tr}[a.split]
    if a.eval_wr: WR = float(a.eval_wr); globals()['WR'] = WR
    for r in map(float, a.eval_rs.split(',')):
        for lr in map(float, a.eval_lrs.split(',')):
            res = [evaluate(net, by, split, k, a.n, lr, r, seed=0) for k in (1, 5)]
            print(a.algo, 'train lr', a.lr, 'r', a.r, '| eval lr', lr, 'r', r, '| 1-shot %.1f+-%.1f 5-shot %.1f+-%.1f' % (*res[0], *res[1]), flush=True)
