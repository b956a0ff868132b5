import time, random
import numpy as np
from benchmarks.devdata import DEFAULT, DevSet
from registry.content import load_content
from matcher.image.matcher import ImageMatcher
from matcher.image.embed_onnx import OnnxEmbedder
dev = DevSet(DEFAULT, "manifest_images.csv"); files = dev.files("benchmark")[:60]
m = ImageMatcher(None, OnnxEmbedder())
D=[];F=[];A=[]; sizes=[]
for p,_ in files:
    b = p.read_bytes(); t=time.perf_counter(); c = load_content(b, max_pixels=10**9, max_text_chars=1); D.append(time.perf_counter()-t)
    sizes.append(c.image.size)
    t=time.perf_counter(); fp = m.fingerprint(c); F.append(time.perf_counter()-t)
    t=time.perf_counter(); m.add(p.name, fp); A.append(time.perf_counter()-t)
for n,v in (("decode",D),("fingerprint",F),("add",A)): print(n, f"median {np.median(v)*1000:.1f} mean {np.mean(v)*1000:.1f}")
print(sizes[:10])
