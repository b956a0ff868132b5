import random, time, sys
from pathlib import Path
import numpy as np, faiss
from PIL import Image
from benchmarks import edits
from benchmarks.devdata import DEFAULT, DevSet
from matcher.image import features as lf
from matcher.image.matcher import ImageMatcher
from registry.content import load_content
from matcher.image.embed_onnx import OnnxEmbedder
m = ImageMatcher(None, OnnxEmbedder(), index_dir=Path("/tmp/idx10k"))
print(len(m.works))
per=48
iids=[]; descs=[]
for wid, e in m.works.items():
    f = m._read_features(wid)
    d = f.desc[:per]
    descs.append(lf.root_sift(d)); iids.append(np.full(len(d), e.iid))
X = np.concatenate(descs); I = np.concatenate(iids); print(X.shape)
dev = DevSet(DEFAULT, "manifest_images.csv"); files = dev.files("benchmark"); random.Random(4).shuffle(files)
enrolled, others = files[:150], files[150:]
bgs=[Image.open(p).convert("RGB") for p,_ in others[:10]]
load = lambda b: load_content(b, max_pixels=10**9, max_text_chars=1).image
Q=[]
for name in ("canvas","random_crop_half","center_crop70","rotate_small"):
    for i,(p,_) in enumerate(enrolled[:30]):
        q = load(edits.encode(edits.ALL[name](Image.open(p).convert("RGB"), random.Random(i), bgs[i%10])))
        Q.append((name, m.works[p.name].iid, lf.root_sift(lf.extract(q).desc[:200])))
def votes(search, k):
    res={}; T=[]
    for name, iid, q in Q:
        t=time.perf_counter(); D, P = search(q, k); T.append(time.perf_counter()-t)
        v={}
        for qi in range(len(q)):
            for d,p in zip(D[qi],P[qi]):
                if p>=0 and d>=0.9: v.setdefault(int(I[p]), set()).add(qi)
        ok = len(v.get(iid, ()))>=3
        rank = sorted(v, key=lambda x: -len(v[x]))[:6]
        res.setdefault(name, []).append(iid in rank and ok)
    return {k_: np.mean(v_) for k_,v_ in res.items()}, np.median(T)*1000
flat = faiss.IndexFlatIP(128); flat.add(X)
print("flat k2", votes(flat.search, 2))
print("flat k4", votes(flat.search, 4))
for nlist in (1024, 4096):
    ivf = faiss.index_factory(128, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
    t=time.perf_counter(); ivf.train(X[np.random.default_rng(0).permutation(len(X))[:100000]]); ivf.add(X); print("build", time.perf_counter()-t)
    for npb in (4, 8, 16):
        ivf.nprobe = npb
        print("ivf", nlist, npb, votes(ivf.search, 2), votes(ivf.search, 4))
hn = m.signals[-1].index.index
print(type(hn))
print("current", votes(hn.search, 2))
