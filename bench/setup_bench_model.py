"""setup_bench_model.py DIR -- give a model bench_e2e wrote (weights and config only) the fixtures' DeBERTa-v3
tokenizer, with class_token_index its <<ENT>>, so `gliner predict` and `gliner train` can read it (device_check.sh's
profile and device_train.sh's throughput runs)."""
import json
import lzma
import shutil
import sys

md = sys.argv[1]
src = 'tests/fixtures/tokenizers/deberta-v3'
with lzma.open(src + '/tokenizer.json.xz') as f, open(md + '/tokenizer.json', 'wb') as o:
    shutil.copyfileobj(f, o)
for n in ('tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json'):
    shutil.copy(src + '/source/' + n, md + '/' + n)
t = json.load(open(md + '/tokenizer.json'))
ids = {a['content']: a['id'] for a in t.get('added_tokens', [])}
c = json.load(open(md + '/gliner_config.json'))
c['class_token_index'] = ids.get('<<ENT>>', max([len(t['model']['vocab']) - 1] + list(ids.values())) + 1)
json.dump(c, open(md + '/gliner_config.json', 'w'))
