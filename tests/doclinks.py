#!/usr/bin/python3
"""Check the links of the project's Markdown pages.

Every relative link in README.md, CHANGELOG.md, doc/*.md, bench/README.md
(and any other tracked *.md given on the command line) must name a file
or directory that exists, and a `#fragment` must name a heading of the
target page (GitHub's anchor rules: lower case, punctuation dropped,
spaces to hyphens, repeats numbered -1, -2, ...) or an explicit
<a id="..."> in it. Links to other sites are not followed.

    /usr/bin/python3 tests/doclinks.py [FILE.md ...]

Exit status 0 when every link resolves, 1 otherwise (each broken link
printed as FILE:LINE: target: why).
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r'\]\(([^()\s]+)\)')
HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')
ANCHOR = re.compile(r'<a\s+(?:id|name)="([^"]+)"')
FENCE = re.compile(r'^\s*(```|~~~)')


def slug(title):
    """GitHub's anchor for a heading's text."""
    t = re.sub(r'`|\*\*|\*|_(?=\W)|(?<=\W)_', '', title)
    t = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', t)  # a link: its text
    t = t.strip().lower()
    t = re.sub(r'[^\w\- ]', '', t)
    return t.replace(' ', '-')


def anchors(path, cache={}):
    """Every anchor a Markdown page defines."""
    if path not in cache:
        seen = {}
        out = set()
        fenced = False
        with open(path, encoding='utf-8') as f:
            for line in f:
                if FENCE.match(line):
                    fenced = not fenced
                    continue
                if fenced:
                    continue
                out.update(ANCHOR.findall(line))
                m = HEADING.match(line)
                if m:
                    s = slug(m.group(2))
                    n = seen.get(s, 0)
                    seen[s] = n + 1
                    out.add(s if n == 0 else '%s-%d' % (s, n))
        cache[path] = out
    return cache[path]


def check(page):
    """Return the broken links of one page, as strings."""
    bad = []
    fenced = False
    base = os.path.dirname(page)
    with open(page, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            if FENCE.match(line):
                fenced = not fenced
                continue
            if fenced:
                continue
            for target in LINK.findall(line):
                if re.match(r'^[a-z]+:', target):
                    continue                     # http:, https:, mailto:
                path, _, frag = target.partition('#')
                dest = os.path.normpath(os.path.join(base, path)) if path \
                    else page
                where = '%s:%d: %s' % (os.path.relpath(page, ROOT), lineno,
                                       target)
                if not os.path.exists(dest):
                    bad.append(where + ': no such file')
                elif frag and dest.endswith('.md') and \
                        frag not in anchors(dest):
                    bad.append(where + ': no such anchor')
    return bad


def main(argv):
    pages = [os.path.abspath(p) for p in argv[1:]]
    if not pages:
        pages = [os.path.join(ROOT, p) for p in
                 ('README.md', 'CHANGELOG.md', 'bench/README.md')]
        doc = os.path.join(ROOT, 'doc')
        pages += [os.path.join(doc, p) for p in sorted(os.listdir(doc))
                  if p.endswith('.md')]
    bad = []
    n = 0
    for page in pages:
        if os.path.exists(page):
            bad += check(page)
            n += 1
    for b in bad:
        print(b)
    print('doclinks: %d pages, %d broken links' % (n, len(bad)))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
