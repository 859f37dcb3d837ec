"""The report stages: ``report`` (one dataset's HTML and Markdown report; :mod:`.report`)
and ``report_index`` (results/index.html; :mod:`.index`).

The report is built from the rule's named inputs as one object (:mod:`.inputs`), one
function per section (:mod:`.sections`), made of the blocks in :mod:`.blocks` and
rendered by :mod:`.render`.
"""
