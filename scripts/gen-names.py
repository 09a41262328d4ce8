#!/usr/bin/python3
"""Writes internal/scan/names/names.txt, the person-name gazetteer.

Sources (Debian packages, installed with
`apt-get install python3-fake-factory wamerican`):
  - first and last names of every person provider of Faker 0.9.3
    (python3-fake-factory; Expat licence, see internal/scan/names/NOTICE);
  - the SCOWL American English word list (wamerican), only to mark names
    that are also ordinary lower-case words ("Will", "Rose", "Grant");
  - place and language names, only to mark names that are also places
    ("Paris", "Victoria", "Houston") or languages ("English"): ISO 3166
    countries and subdivisions and ISO 639 languages (iso-codes) and the
    city names of the time zone database (tzdata, public domain).

Run from the repository root: /usr/bin/python3 scripts/gen-names.py
Each output line is NAME<TAB>FLAGS: f first name, l last name, w also an
ordinary word, p also a place, language or nationality. Only names written in a cased script (Latin, Greek,
Cyrillic) are kept: the scanner finds names by their capital letter.
"""
import importlib
import json
import os
import pkgutil
import unicodedata

import faker.providers.person as person

first, last = set(), set()
for m in pkgutil.iter_modules(person.__path__):
    try:
        mod = importlib.import_module("faker.providers.person." + m.name)
    except Exception:  # a provider that needs an optional module
        continue
    p = mod.Provider
    for attr, dst in (("first_names", first), ("first_names_male", first), ("first_names_female", first),
                      ("last_names", last), ("last_names_male", last), ("last_names_female", last)):
        v = getattr(p, attr, None)
        if v:
            dst.update(v.keys() if isinstance(v, dict) else v)

words = set()
with open("/usr/share/dict/american-english", encoding="utf-8") as f:
    for line in f:
        w = line.strip()
        if w and w[0].islower() and "'" not in w:
            words.add(w)


places = set()


def add_place(name):
    """Marks a one-word place; of a longer one ("Saint Andrew", "Los
    Angeles") only the words that are no given name."""
    ws = [w for w in name.replace("_", " ").replace("-", " ").replace(",", " ").split() if len(w) > 2 and w[0].isupper()]
    for w in ws:
        if len(ws) == 1 or w not in first:
            places.add(w)


for fn, key, fields in (("iso_3166-1.json", "3166-1", ("name", "common_name", "official_name")),
                        ("iso_3166-2.json", "3166-2", ("name",)),
                        ("iso_639-2.json", "639-2", ("name",))):
    with open("/usr/share/iso-codes/json/" + fn, encoding="utf-8") as f:
        for e in json.load(f)[key]:
            for fld in fields:
                if fld in e:
                    for part in e[fld].split(";"):
                        add_place(part)
for root, _, files in os.walk("/usr/share/zoneinfo"):
    for fn in files:
        add_place(fn)
# Nationalities, religions and a few brands the lists above miss.
for w in ("American", "British", "Canadian", "Australian", "Mexican", "Brazilian", "Argentine", "Chinese",
          "Japanese", "Korean", "Indian", "Russian", "Ukrainian", "Polish", "Italian", "Spanish", "Portuguese",
          "Dutch", "Swedish", "Norwegian", "Danish", "Finnish", "Irish", "Scottish", "Welsh", "Greek", "Turkish",
          "Israeli", "Egyptian", "African", "European", "Asian", "Latin", "Christian", "Christians", "Muslim",
          "Jewish", "Catholic", "Protestant", "Hindu", "Buddhist", "Orthodox", "Amazon", "Tesla", "Mercedes",
          "Ford", "Disney", "Netflix", "Forbes", "Stanford", "Cornell", "Harvard", "Oxford", "Cambridge",
          "Princeton", "Yale", "Barbie", "Thor", "Venus", "Mars", "Jupiter", "Saturn", "Mercury", "Apollo",
          "Windows", "Linux", "Chrome", "Safari", "Siri", "Alexa", "Gemini", "Llama", "Mac", "Wikipedia"):
    places.add(w)


def cased(n):
    if len(n) < 2 or not n[0].isupper() or any(c.isspace() for c in n):
        return False
    for c in n:
        if c.isalpha() and unicodedata.name(c, "").split()[0] not in ("LATIN", "GREEK", "CYRILLIC"):
            return False
    return True


rows = []
for n in sorted(first | last):
    if not cased(n):
        continue
    fl = ("f" if n in first else "") + ("l" if n in last else "") + ("w" if n.lower() in words else "") + ("p" if n in places else "")
    rows.append(n + "\t" + fl)
with open("internal/scan/names/names.txt", "w", encoding="utf-8") as f:
    f.write("\n".join(rows) + "\n")
print(len(rows), "names")
