import os, torch, numpy as np
from explorer.core import load_model, occlusion, evolution, invariance
from explorer.core.checkpoint import load_snapshots
from explorer.core.datasets import open_dataset
D=os.environ['D']
ds=open_dataset(D,'test'); m=load_model('seednet')
idx=(np.arange(200)*len(ds))//200
x=ds.tensor(list(idx)); y=torch.tensor(ds.labels[idx])
# occlusion
r=occlusion(m,x,size=8,stride=4)
pt=r.probs[torch.arange(200),y]  # [200,ny,nx]
base=r.base_probs[torch.arange(200),y]
print('occlusion: base p(true) mean %.3f, min over positions mean %.3f, median pos mean %.3f'%(base.mean(),pt.flatten(1).min(1).values.mean(),pt.flatten(1).median(1).values.mean()))
flip=(r.top_class!=y[:,None,None]).float().flatten(1).mean(1)
correct=r.base_probs.argmax(1)==y
print('correct plain %.3f; fraction of positions where top class != true, among correct: %.3f'%(correct.float().mean(), flip[correct].mean()))
# where is the most damaging position: centre vs border
ys=torch.tensor(r.ys)+4; 
am=pt.flatten(1).argmin(1); iy=am//len(r.xs); ix=am%len(r.xs)
cy=ys[iy]; cx=torch.tensor(r.xs)[ix]+4
dist=((cy-16.0)**2+(cx-16.0)**2).sqrt()
print('most damaging square centre: median distance from image centre %.1f px'%dist.median())
# evolution
snaps=load_snapshots()
steps=evolution(m,snaps,ds.tensor(list((np.arange(256)*len(ds))//256)),'conv2',list(range(64)))
last=steps[-1].indices
for s in steps: print('evolution conv2 epoch %d: same strongest image as epoch 30 for %d/64 features, mean value %.3f'%(s.epoch,(s.indices==last).sum(),s.values.mean()))
steps=evolution(m,snaps,ds.tensor(list((np.arange(256)*len(ds))//256)),'conv1',list(range(32)))
last=steps[-1].indices
for s in steps: print('evolution conv1 epoch %d: same as epoch 30 %d/32'%(s.epoch,(s.indices==last).sum()))
# invariance
for t,vals in [('translate',[-8,-4,-2,0,2,4,8]),('scale',[0.6,0.8,1.0,1.2,1.4]),('rotate',[-45,-20,-10,0,10,20,45])]:
    acc=np.zeros(len(vals)); d=np.zeros((2,len(vals)))
    for i in range(100):
        r=invariance(m,x[i],t,vals,layer=['conv1','conv2'])
        acc+= (r.probs.argmax(1)==y[i]).numpy()
        dd=r.distance.numpy(); d+=dd/dd.max(1,keepdims=True)
    print(t, vals, 'accuracy', np.round(acc/100,2).tolist(), 'rel dist conv1', np.round(d[0]/100,2).tolist(), 'conv2', np.round(d[1]/100,2).tolist())
