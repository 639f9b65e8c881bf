"""Trello's Markdown as the board page shows it: a table of text and the HTML expected."""

from __future__ import annotations

import pytest

from worker.sandbox.markdown import render

PEOPLE = ("alice", "bob")


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("**Incident declared**", "<p><strong>Incident declared</strong></p>"),
        ("~~gone~~ _soon_", "<p><s>gone</s> <em>soon</em></p>"),
        ("see [status](https://s.example)", '<p>see <a href="https://s.example">status</a></p>'),
        ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),
        ("`iw:declared@1`", "<p><code>iw:declared@1</code></p>"),
        ("<b>raw</b>", "<p>&lt;b&gt;raw&lt;/b&gt;</p>"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("one\ntwo", "<p>one<br />\ntwo</p>"),
        ("@alice: tell", '<p><span class="mention">@alice</span>: tell</p>'),
        ("@carol is no member", "<p>@carol is no member</p>"),
        ("mail a@bob.example", "<p>mail a@bob.example</p>"),
        ("`@bob` in code", "<p><code>@bob</code> in code</p>"),
        (
            "@alice and @bob",
            '<p><span class="mention">@alice</span> and <span class="mention">@bob</span></p>',
        ),
    ],
)
def test_render(text: str, html: str) -> None:
    assert render(text, PEOPLE).strip() == html
