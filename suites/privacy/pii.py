"""Columns that look like personal data: pattern recognisers, no model (nothing is downloaded).

Each column of the data files that the policy does not declare sensitive (nor ``ignore``) is
sampled (at most ``sample`` distinct non-missing values, seeded) and every value is tried with
each recogniser. A column looks like a kind when at least ``min_share`` of its sampled values
match it, for one recogniser (so that weak checksums, which about one random number in ten
passes, never add up):

* ``email``: ``local@domain.tld`` (a regular expression; deliverability is not asked);
* ``phone``: ``phonenumbers`` (Google's libphonenumber metadata: a number valid in its numbering
  plan, not any digit string), for values written like phone numbers (a leading ``+`` or ``0``,
  or separators), in the ``phone_regions`` when no ``+country`` code is given;
* ``iban``: ``stdnum.iban`` (country length and the mod-97 check);
* ``card``: 13-19 digits, a major network's first digit (2-6) and the Luhn check
  (``stdnum.luhn``);
* ``national_id``: python-stdnum's validators of national identity numbers with a checksum or a
  strict format (:data:`NATIONAL_IDS`; US SSNs only written ``123-45-6789``: nine bare digits
  pass its rules nine times in ten);
* ``date_of_birth``: dates (a datetime column, or ISO or day/month/year text) whose column name
  says birth (``birth``, ``dob``, ``born``...) or whose spread looks like adults' birth dates
  (median age 18-90, youngest 12+, an interquartile range of 8+ years).

Values never leave this module: the result holds kinds, shares and counts.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
PHONE_SHAPE = re.compile(r"^\+?[\d\s().-]{7,24}$")
DECIMAL = re.compile(r"^[-+]?\d+\.\d+$")
DATE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2}([ T][\d:.]+)?|\d{1,2}[./-]\d{1,2}[./-]\d{4}|"
                  r"\d{4}/\d{1,2}/\d{1,2})$")
BIRTH_NAME = re.compile(r"birth|(^|_)dob($|_)|born|geburt|naissance|nacimiento|nascita",
                        re.IGNORECASE)
SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")
#: python-stdnum modules of national identity numbers (checksum or strict format).
NATIONAL_IDS = ("us.ssn", "de.idnr", "fr.nir", "es.dni", "es.nie", "it.codicefiscale", "nl.bsn",
                "be.nn", "pl.pesel", "se.personnummer", "dk.cpr", "fi.hetu", "no.fodselsnummer",
                "ca.sin", "br.cpf", "in_.aadhaar", "cn.ric", "za.idnr", "ch.ssn", "at.vnr",
                "pt.cc", "ie.pps", "ee.ik", "lt.asmens", "ro.cnp", "bg.egn", "gr.amka",
                "mx.curp", "cl.rut", "kr.rrn", "jp.in_")


@dataclass
class PiiColumn:
    """One undeclared column that looks like personal data."""

    column: str
    kind: str
    detail: str
    share: float
    sampled: int

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "kind": self.kind, "detail": self.detail,
                "share": round(self.share, 4), "sampled": self.sampled}


@dataclass
class PiiResult:
    flagged: list[PiiColumn]
    checked: list[str]
    declared: list[str]
    ignored: list[str]
    kinds: list[str]


def _id_like(text: str) -> bool:
    digits = sum(ch.isdigit() for ch in text)
    return 6 <= len(text) <= 24 and digits >= 5 and not DECIMAL.match(text)


def _card(text: str) -> bool:
    from stdnum import luhn

    digits = re.sub(r"[\s-]", "", text)
    return (digits.isdigit() and 13 <= len(digits) <= 19 and digits[0] in "23456"
            and bool(luhn.is_valid(digits)))


def _iban(text: str) -> bool:
    from stdnum import iban

    return len(text) >= 15 and text[:2].isalpha() and bool(iban.is_valid(text))


def _phone_check(regions: Sequence[str]) -> Callable[[str], bool]:
    import phonenumbers

    def check(text: str) -> bool:
        if not PHONE_SHAPE.match(text) or DECIMAL.match(text):
            return False
        formatted = text.startswith(("+", "0")) or bool(re.search(r"[\s().-]", text))
        if not formatted:
            return False
        tries: Iterable[str | None] = [None] if text.startswith("+") else regions
        for region in tries:
            try:
                number = phonenumbers.parse(text, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return True
        return False

    return check


def _validator(name: str) -> Callable[[str], bool]:
    validate: Callable[[str], Any] = importlib.import_module(f"stdnum.{name}").is_valid
    if name == "us.ssn":
        return lambda text: bool(SSN.match(text)) and bool(validate(text))
    return lambda text: bool(validate(text))


def _national_ids() -> dict[str, Callable[[str], bool]]:
    """The validators this python-stdnum has (an older release may lack a few)."""
    checks = {}
    for name in NATIONAL_IDS:
        try:
            checks[name] = _validator(name)
        except ImportError:
            continue
    return checks


def _as_text(values: pd.Series) -> list[str]:
    if pd.api.types.is_float_dtype(values):
        finite = values[np.isfinite(values.to_numpy(dtype=float))]
        if len(finite) and np.all(np.mod(finite, 1) == 0):
            return [str(int(v)) for v in finite]
        return []  # real numbers: amounts and ratios, not identifiers
    if pd.api.types.is_bool_dtype(values):
        return []
    return [str(v).strip() for v in values]


def _dates(values: pd.Series) -> pd.Series | None:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if pd.api.types.is_numeric_dtype(values):
        return None
    texts = values.astype(str).str.strip()
    shaped = texts[texts.str.match(DATE)]
    if not len(shaped):
        return None
    parsed = pd.to_datetime(shaped, errors="coerce", format="mixed", dayfirst=True)
    return parsed.dropna()


def _birth_dates(column: str, values: pd.Series, min_share: float,
                 today: dt.date) -> PiiColumn | None:
    dates = _dates(values)
    if dates is None or not len(values):
        return None
    share = len(dates) / len(values)
    if share < min_share or not len(dates):
        return None
    ages = (pd.Timestamp(today) - pd.to_datetime(dates).dt.tz_localize(None)).dt.days / 365.25
    ages = ages.to_numpy(dtype=float)
    named = bool(BIRTH_NAME.search(column))
    if named and np.all((ages >= 0) & (ages <= 125)):
        return PiiColumn(column, "date_of_birth", "dates, column named for birth", share,
                         len(values))
    q1, median, q3 = np.quantile(ages, [0.25, 0.5, 0.75])
    if 18 <= median <= 90 and ages.min() >= 12 and ages.max() <= 125 and q3 - q1 >= 8:
        return PiiColumn(column, "date_of_birth", "dates spread like adults' birth dates",
                         share, len(values))
    return None


def find_pii(frames: Sequence[pd.DataFrame], *, declared: Iterable[str], ignore: Iterable[str],
             kinds: Iterable[str], min_share: float, sample: int, regions: Sequence[str],
             seed: int, today: dt.date | None = None) -> PiiResult:
    """Undeclared columns of ``frames`` that look like personal data (module documentation)."""
    declared_set, ignored = set(declared), set(ignore)
    kinds = list(kinds)
    today = today or dt.date.today()
    columns: list[str] = []
    for frame in frames:
        columns += [str(c) for c in frame.columns if str(c) not in columns]
    recognisers: dict[str, dict[str, Callable[[str], bool]]] = {}
    if "email" in kinds:
        recognisers["email"] = {"email address": lambda t: bool(EMAIL.match(t))}
    if "phone" in kinds:
        recognisers["phone"] = {"phone number (phonenumbers)": _phone_check(list(regions))}
    if "iban" in kinds:
        recognisers["iban"] = {"IBAN (stdnum.iban)": _iban}
    if "card" in kinds:
        recognisers["card"] = {"card number (Luhn)": _card}
    if "national_id" in kinds:
        recognisers["national_id"] = {f"stdnum.{k}": v for k, v in _national_ids().items()}
    flagged: list[PiiColumn] = []
    checked: list[str] = []
    rng = np.random.default_rng([seed, 7413])
    for column in columns:
        if column in declared_set or column in ignored:
            continue
        checked.append(column)
        parts = [f[column] for f in frames if column in f.columns]
        values = pd.concat(parts, ignore_index=True).dropna()
        unique = values.drop_duplicates()
        if len(unique) > sample:
            unique = unique.iloc[np.sort(rng.choice(len(unique), sample, replace=False))]
        hit = _classify(column, unique, recognisers, min_share, today, kinds)
        if hit is not None:
            flagged.append(hit)
    return PiiResult(flagged, checked, sorted(declared_set), sorted(ignored), kinds)


def _classify(column: str, values: pd.Series,
              recognisers: dict[str, dict[str, Callable[[str], bool]]], min_share: float,
              today: dt.date, kinds: list[str]) -> PiiColumn | None:
    if not len(values):
        return None
    if "date_of_birth" in kinds:
        dob = _birth_dates(column, values, min_share, today)
        if dob is not None:
            return dob
    texts = _as_text(values)
    if not texts:
        return None
    best: PiiColumn | None = None
    for kind, checks in recognisers.items():
        pool = texts if kind in ("email", "phone", "iban") else [t for t in texts if _id_like(t)]
        if len(pool) < min_share * len(texts):
            continue
        for detail, check in checks.items():
            share = sum(1 for t in pool if check(t)) / len(texts)
            if share >= min_share and (best is None or share > best.share):
                best = PiiColumn(column, kind, detail, share, len(texts))
    return best
