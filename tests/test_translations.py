"""The plug-in's translations (issue 17, defect 9): every string marked, the template current, zh_TW complete.

The catalogue tools (gimp_plugin/translations/catalogue.py) are standard library only: they read
the plug-in's source with ast, and compile ``.po`` to ``.mo`` as msgfmt does; Python's own gettext
reads the result here, as the plug-in does in GIMP (plugin_logic/i18n.py).
"""

from __future__ import annotations

import ast
import gettext
import io
import re
from pathlib import Path

import pytest
from translations import catalogue

PLUGIN = Path(catalogue.PLUGIN)
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[sdgfx]")


def po(language: str) -> tuple[dict, list]:
    header, messages, _ = catalogue.parse_po(catalogue.translations()[language].read_text(encoding="utf-8"))
    return header, messages


def test_the_template_lists_exactly_the_strings_the_plugin_marks():
    _, in_file, _ = catalogue.parse_po(catalogue.TEMPLATE.read_text(encoding="utf-8"))
    assert {(m.msgid, m.plural) for m in in_file} == {(m.msgid, m.plural) for m in catalogue.extract()}, (
        "the template is out of date: run python gimp_plugin/translations/catalogue.py")


def _calls(tree):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]


@pytest.mark.parametrize("path", sorted(p for p in PLUGIN.rglob("*.py") if "__pycache__" not in p.parts),
                         ids=lambda p: p.name)
def test_words_a_user_reads_are_marked_for_translation(path):
    """Labels, blurbs, messages and layer names given to GIMP are ``_()`` calls, never bare text."""
    shown = {"set_menu_label": (0,), "set_documentation": (0, 1), "message": (0,), "progress_set_text": (0,),
             "progress_init": (0,), "set_name": (0,), "add_choice_argument": (1, 2), "add_int_argument": (1, 2),
             "add_double_argument": (1, 2), "add_string_argument": (1, 2), "add_boolean_argument": (1, 2),
             "add_image_argument": (1, 2), "add_enum_argument": (1, 2), "add_image_return_value": (1, 2),
             "new_with_mnemonic": (0,)}
    bare = []
    for call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
        for index in shown.get(call.func.attr, ()):
            if index < len(call.args) and isinstance(call.args[index], (ast.Constant, ast.JoinedStr)):
                value = call.args[index]
                if not isinstance(value, ast.Constant) or (isinstance(value.value, str) and value.value.strip()):
                    bare.append(f"{path.name}:{call.lineno} {call.func.attr}")
    assert not bare, f"unmarked user-facing text: {bare}"


def test_traditional_chinese_translates_everything_with_the_same_placeholders_and_mnemonics():
    header, messages = po("zh_TW")
    assert header["Language"] == "zh_TW" and header["Plural-Forms"].startswith("nplurals=1")
    by_id = {(m.msgid, m.plural): m for m in messages}
    for message in catalogue.extract():
        translated = by_id.get((message.msgid, message.plural))
        assert translated is not None and translated.translation and all(translated.translation), message.msgid
        for text in translated.translation:
            assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(message.msgid)), message.msgid
            key = re.search(r"_(\w)", message.msgid.replace("__", ""))
            if key and key.group(1).isdigit():  # a numbered menu step: the same number, the same key
                assert text.startswith(f"_{key.group(1)}."), f"{message.msgid!r}: the step's number leads"
            elif key:
                assert re.search(r"\(_[A-Z]\)", text), f"{message.msgid!r}: the mnemonic is kept as (_X)"
            assert text.count("%") == message.msgid.count("%"), message.msgid


def test_the_compiled_catalogue_is_what_gettext_reads(tmp_path):
    mo = catalogue.compile_po(catalogue.translations()["zh_TW"].read_text(encoding="utf-8"))
    translation = gettext.GNUTranslations(io.BytesIO(mo))
    assert translation.gettext("_1. Cut Out Person…") == "_1. 人物去背…"
    waiting = translation.ngettext("Waiting for the server: %d job ahead", "Waiting for the server: %d jobs ahead", 3)
    assert waiting % 3 == "等待伺服器：前面還有 3 個工作"
    assert translation.gettext("not in the catalogue") == "not in the catalogue"
    # the plug-in's own loader finds it where install.py puts it
    from plugin_logic import i18n

    folder = tmp_path / "zh_TW" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / f"{i18n.DOMAIN}.mo").write_bytes(mo)
    assert i18n.load(["zh_TW"], str(tmp_path)).gettext("Person Cutout") == "人物去背"
    assert i18n.load(["fr"], str(tmp_path)).gettext("Person Cutout") == "Person Cutout"


def test_a_po_file_survives_parse_and_render():
    text = catalogue.translations()["zh_TW"].read_text(encoding="utf-8")
    header, messages, comments = catalogue.parse_po(text)
    assert catalogue.parse_po(catalogue.render(messages, header, comments))[1] == messages
    assert catalogue.merged(text) == text, "zh_TW.po is not merged with the template: run catalogue.py"
