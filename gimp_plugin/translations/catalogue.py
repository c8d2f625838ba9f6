"""The plug-in's message catalogue: extract the strings, write the template, merge, compile — standard library only.

* :func:`extract` — every string the plug-in marks with ``_()``, ``N_()`` or ``ngettext()`` (read
  from the source with :mod:`ast`, nothing is run) and the names it shows from the tables it
  shares with the server (:mod:`cutout_common`: segmenter titles, licence notices, edge modes,
  comic styles and their parameters, page sizes and layouts), which it translates where it shows them;
* :func:`template` / :func:`merged` — the ``.pot`` file and a ``.po`` file brought up to date with it
  (what ``xgettext`` and ``msgmerge`` do, for this one domain);
* :func:`compile_po` — a ``.po`` file as a GNU ``.mo`` catalogue, the format Python's :mod:`gettext`
  and GIMP read: what Python's own ``Tools/i18n/msgfmt.py`` does, without its command line.
  install.py uses it, so installing needs no gettext tools.

``python gimp_plugin/translations/catalogue.py`` rewrites ``person-cutout.pot`` and merges every
``<language>.po`` beside it; translators then fill in the empty ``msgstr`` lines.
"""

from __future__ import annotations

import ast
import re
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLUGIN = HERE.parent / "person-cutout"
DOMAIN = "person-cutout"
TEMPLATE = HERE / f"{DOMAIN}.pot"
MARKERS = {"_": 1, "N_": 1, "ngettext": 2}
HEADER = {
    "Project-Id-Version": "person-cutout 0.1.0",
    "Report-Msgid-Bugs-To": "",
    "MIME-Version": "1.0",
    "Content-Type": "text/plain; charset=UTF-8",
    "Content-Transfer-Encoding": "8bit",
}


@dataclass
class Message:
    msgid: str
    plural: str | None = None
    places: list[str] = field(default_factory=list)
    python_format: bool = False
    translation: list[str] = field(default_factory=list)  # msgstr, or msgstr[n] for a plural


# --------------------------------------------------------------------------- extraction


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def source_messages(path: Path, root: Path) -> list[Message]:
    """The marked strings of one module, in the order they appear."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKERS):
            continue
        texts = [_literal(a) for a in node.args[:MARKERS[node.func.id]]]
        if texts and all(t is not None for t in texts):
            # the file, not the line: the template stays the same when code around a string moves
            found.append((node.lineno, Message(texts[0], texts[1] if len(texts) > 1 else None,
                                               [path.relative_to(root).as_posix()])))
    return [message for _, message in sorted(found, key=lambda item: item[0])]


def table_messages() -> list[Message]:
    """The shared tables' words the plug-in shows (translated by ``_()`` where shown)."""
    sys.path.insert(0, str(HERE.parent))
    try:
        from cutout_common import comic_styles, page_geometry, vocabulary
    finally:
        sys.path.pop(0)
    entries: list[tuple[str, str]] = []
    entries += [(s.title, "cutout_common/vocabulary.py SEGMENTERS") for s in vocabulary.SEGMENTERS.values()]
    entries += [(n.notice, "cutout_common/vocabulary.py NETWORKS") for n in vocabulary.NETWORKS.values() if n.consent]
    entries += [(text, "cutout_common/vocabulary.py EDGE_MODES") for c in vocabulary.EDGE_MODES
                for text in (c.label, c.help)]
    for style in comic_styles.STYLES.values():
        entries += [
            (style.label, "cutout_common/comic_styles.py STYLES"),
            (style.help, "cutout_common/comic_styles.py STYLES"),
        ]
        entries += [(layer, "cutout_common/comic_styles.py layers") for layer in style.layers]
        for param in style.params:
            entries += [
                (param.label, "cutout_common/comic_styles.py params"),
                (param.help, "cutout_common/comic_styles.py params"),
            ]
    entries += [(p.label, "cutout_common/page_geometry.py PAGE_PRESETS") for p in page_geometry.PAGE_PRESETS.values()]
    entries += [(name, "cutout_common/page_geometry.py LAYOUT_PRESETS") for name in page_geometry.LAYOUT_PRESETS]
    return [Message(text, None, [place]) for text, place in entries if text]


def extract(plugin: Path = PLUGIN) -> list[Message]:
    """Every message of the plug-in once, in the order of first appearance (sources first, then tables)."""
    merged: dict[tuple[str, str | None], Message] = {}
    modules = sorted(p for p in plugin.rglob("*.py") if "__pycache__" not in p.parts and "vendor" not in p.parts)
    for message in [m for path in modules for m in source_messages(path, plugin.parent)] + table_messages():
        key = (message.msgid, message.plural)
        if key in merged:
            merged[key].places += [p for p in message.places if p not in merged[key].places]
        else:
            merged[key] = message
    for message in merged.values():
        message.python_format = bool(re.search(r"%(\(\w+\))?[-#0 +]*\d*(\.\d+)?[sdgfx]", message.msgid))
    return list(merged.values())


# --------------------------------------------------------------------------- .po files


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\n", "\\n")
    return f'"{escaped}"'


def _field(keyword: str, text: str) -> list[str]:
    """``keyword "text"``, split after each newline as gettext's tools do."""
    if "\n" not in text.rstrip("\n"):
        return [f"{keyword} {_quote(text)}"]
    lines = [f'{keyword} ""']
    parts = text.split("\n")
    for index, part in enumerate(parts):
        piece = part + ("\n" if index < len(parts) - 1 else "")
        if piece:
            lines.append(_quote(piece))
    return lines


def render(messages: list[Message], header: dict[str, str], comments: list[str]) -> str:
    """A ``.po``/``.pot`` file: header entry, then each message with its places and flags."""
    out = [f"# {line}" if line else "#" for line in comments]
    out += ['msgid ""', 'msgstr ""'] + [_quote(f"{k}: {v}\n") for k, v in header.items()] + [""]
    for message in messages:
        out += [f"#: {place}" for place in message.places]
        if message.python_format:
            out.append("#, python-format")
        out += _field("msgid", message.msgid)
        if message.plural is None:
            out += _field("msgstr", message.translation[0] if message.translation else "")
        else:
            out += _field("msgid_plural", message.plural)
            for index, text in enumerate(message.translation or ["", ""]):
                out += _field(f"msgstr[{index}]", text)
        out.append("")
    return "\n".join(out)


def template(messages: list[Message] | None = None) -> str:
    return render(
        messages if messages is not None else extract(),
        {**HEADER, "Language": "", "Plural-Forms": "nplurals=INTEGER; plural=EXPRESSION;"},
        [
            "Person Cutout for GIMP 3: message catalogue template.",
            "Made by gimp_plugin/translations/catalogue.py; do not edit by hand.",
            "",
        ],
    )


_ENTRY_KEYS = re.compile(r"^(msgid_plural|msgid|msgstr\[(\d+)\]|msgstr)\s+(\".*\")\s*$")


def _unquote(text: str) -> str:
    body = text.strip()[1:-1]
    return re.sub(r'\\(["\\tn])', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def parse_po(text: str) -> tuple[dict[str, str], list[Message], list[str]]:
    """(header fields, messages, leading comment lines) of a ``.po`` file; fuzzy entries are left out."""
    messages: list[Message] = []
    comments: list[str] = []
    header: dict[str, str] = {}
    current: dict = {}
    flags: list[str] = []
    places: list[str] = []
    seen_entry = False

    def finish():
        nonlocal current, flags, places
        if "msgid" in current:
            if current["msgid"] == "":
                for line in "".join(current.get("msgstr", [""])).splitlines():
                    key, _, value = line.partition(":")
                    header[key.strip()] = value.strip()
            elif "fuzzy" not in flags:
                strings = current.get("msgstr", [])
                messages.append(
                    Message(current["msgid"], current.get("msgid_plural"), places, "python-format" in flags, strings)
                )
        current, flags, places = {}, [], []

    last = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            if "msgstr" in current:  # the comments of the next entry: this one is complete
                finish()
            if not seen_entry and not line.startswith(("#:", "#,", "#~")):
                comments.append(line[1:].lstrip() if line != "#" else "")
            if line.startswith("#,"):
                flags += [f.strip() for f in line[2:].split(",")]
            elif line.startswith("#:"):
                places += line[2:].split()
            continue
        if not line:
            continue
        match = _ENTRY_KEYS.match(line)
        if match:
            keyword, index, value = match.groups()
            if keyword == "msgid" and "msgid" in current:
                finish()
            seen_entry = True
            if keyword.startswith("msgstr"):
                slot = int(index) if index is not None else 0
                strings = current.setdefault("msgstr", [])
                strings += [""] * (slot + 1 - len(strings))
                strings[slot] = _unquote(value)
                last = ("msgstr", slot)
            else:
                current[keyword] = _unquote(value)
                last = (keyword, None)
        elif line.startswith('"') and last is not None:
            keyword, slot = last
            if keyword == "msgstr":
                current["msgstr"][slot] += _unquote(line)
            else:
                current[keyword] += _unquote(line)
    finish()
    return header, messages, comments


def merged(po_text: str, messages: list[Message] | None = None) -> str:
    """``po_text`` brought up to date with the template: its translations kept, new messages empty, old ones gone."""
    header, translated, comments = parse_po(po_text)
    known = {(m.msgid, m.plural): m.translation for m in translated}
    out = []
    for message in messages if messages is not None else extract():
        out.append(
            Message(
                message.msgid,
                message.plural,
                message.places,
                message.python_format,
                known.get((message.msgid, message.plural), []),
            )
        )
    return render(out, header, comments)


# --------------------------------------------------------------------------- .mo files


def compile_po(po_text: str) -> bytes:
    """A GNU ``.mo`` catalogue of the translated messages of ``po_text`` (the header entry first, as msgfmt
    writes it)."""
    header, messages, _comments = parse_po(po_text)
    catalogue = {"": "".join(f"{k}: {v}\n" for k, v in header.items())}
    for message in messages:
        if not message.translation or not all(message.translation):
            continue  # untranslated: gettext falls back to the English text
        key = message.msgid if message.plural is None else f"{message.msgid}\0{message.plural}"
        catalogue[key] = "\0".join(message.translation)
    keys = sorted(catalogue)  # the .mo format's binary search needs the ids in byte order
    ids = [k.encode("utf-8") for k in keys]
    strs = [catalogue[k].encode("utf-8") for k in keys]
    count = len(keys)
    originals_at, translations_at = 7 * 4, 7 * 4 + count * 8
    data_at = translations_at + count * 8
    offsets, blob = [], b""
    for text in ids + strs:
        offsets.append((len(text), data_at + len(blob)))
        blob += text + b"\0"
    table = b"".join(struct.pack("<II", length, start) for length, start in offsets)
    return struct.pack("<7I", 0x950412DE, 0, count, originals_at, translations_at, 0, 0) + table + blob


def translations(folder: Path = HERE) -> dict[str, Path]:
    """The ``.po`` file of each language: ``{"zh_TW": .../zh_TW.po}``."""
    return {p.stem: p for p in sorted(folder.glob("*.po"))}


def main() -> int:
    messages = extract()
    TEMPLATE.write_text(template(messages), encoding="utf-8")
    print(f"{TEMPLATE}: {len(messages)} messages")
    for path in translations().values():
        text = merged(path.read_text(encoding="utf-8"), messages)
        path.write_text(text, encoding="utf-8")
        _header, parsed, _ = parse_po(text)
        missing = sum(1 for m in parsed if not m.translation or not all(m.translation))
        print(f"{path}: {len(parsed) - missing} of {len(parsed)} translated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
