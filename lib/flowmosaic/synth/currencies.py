"""Share-class currencies and hedge flags: share_classes.csv's Currency and Hedged.

- A fund's base currency follows its domicile: the domicile's own currency (US USD, JP JPY, GB
  GBP, CH CHF, the euro area EUR, a single-country fund at home its country's), drawn for the
  offshore centres (LU: EUR or USD, a few GBP; IE: USD, EUR or GBP; KY: USD).
- Share class 1 is in the base currency (so a reader finds a fund's base currency as the
  currency of its first share class, ShareId ending in 1). Each further class draws its currency
  from its domicile's mix: US funds only USD; JP mostly JPY, some USD; LU/IE/KY EUR, USD, GBP,
  CHF, JPY and a few SGD, HKD, AUD, SEK; other European domiciles mostly the base, else EUR, USD,
  GBP or CHF; elsewhere mostly the base, else USD.
- Hedged: a class in a currency other than the base is hedged to its currency with
  probability HEDGE_P (bond funds 0.8, multi-asset 0.6, equity 0.4); a base-currency class
  never is.
- The hedging plant's funds (hedging.py) have fixed classes: 1 USD unhedged (their base), 2 the
  domicile's currency, hedged.

The draws come from stream [seed, 5, fund] only, after the fund's profile: nothing else in the
universe depends on them.
"""

from __future__ import annotations

from flowmosaic.synth.draws import _choice, _rng

# ISO 4217 code of each country's currency (the 52, the offshore centres)
CURRENCY = {
    "US": "USD",
    "JP": "JPY",
    "GB": "GBP",
    "CN": "CNY",
    "FR": "EUR",
    "CA": "CAD",
    "CH": "CHF",
    "DE": "EUR",
    "AU": "AUD",
    "IN": "INR",
    "TW": "TWD",
    "KR": "KRW",
    "NL": "EUR",
    "SE": "SEK",
    "HK": "HKD",
    "DK": "DKK",
    "IT": "EUR",
    "ES": "EUR",
    "BR": "BRL",
    "SA": "SAR",
    "SG": "SGD",
    "ZA": "ZAR",
    "RU": "RUB",
    "FI": "EUR",
    "BE": "EUR",
    "MX": "MXN",
    "IE": "EUR",
    "IL": "ILS",
    "NO": "NOK",
    "TH": "THB",
    "ID": "IDR",
    "MY": "MYR",
    "AE": "AED",
    "QA": "QAR",
    "KW": "KWD",
    "PL": "PLN",
    "CL": "CLP",
    "NZ": "NZD",
    "AT": "EUR",
    "PH": "PHP",
    "TR": "TRY",
    "PT": "EUR",
    "GR": "EUR",
    "HU": "HUF",
    "PE": "PEN",
    "CZ": "CZK",
    "CO": "COP",
    "EG": "EGP",
    "AR": "ARS",
    "PK": "PKR",
    "MA": "MAD",
    "JO": "JOD",
    "LU": "EUR",
    "KY": "USD",
}
BASE_MIX = {  # base currency of a fund domiciled in an offshore centre
    "LU": {"EUR": 0.50, "USD": 0.45, "GBP": 0.05},
    "IE": {"USD": 0.55, "EUR": 0.30, "GBP": 0.15},
    "KY": {"USD": 1.0},
}
BASE = "base"  # in a class mix: the fund's base currency
OFFSHORE_CLASSES = {
    "EUR": 0.30,
    "USD": 0.30,
    "GBP": 0.12,
    "CHF": 0.10,
    "JPY": 0.06,
    "SGD": 0.04,
    "HKD": 0.03,
    "AUD": 0.03,
    "SEK": 0.02,
}
EUROPE_CLASSES = {BASE: 0.60, "EUR": 0.15, "USD": 0.15, "GBP": 0.05, "CHF": 0.05}
CLASS_MIX = {
    "US": {BASE: 1.0},
    "JP": {BASE: 0.90, "USD": 0.10},
    **dict.fromkeys(BASE_MIX, OFFSHORE_CLASSES),
    **dict.fromkeys(
        ["GB", "CH", "DE", "FR", "NL", "SE", "DK", "IT", "ES", "FI", "BE", "NO", "AT", "PT", "GR"],
        EUROPE_CLASSES,
    ),
}
OTHER_CLASSES = {BASE: 0.85, "USD": 0.15}
HEDGE_P = {"E": 0.4, "B": 0.8, "M": 0.6}  # a non-base class is hedged with this probability


def share_class_currencies(seed: int, prof: dict) -> tuple[list[str], list[bool]]:
    """(currency, hedged) of each share class of the fund `prof` (stream [seed, 5, fund])."""
    if "hedge_plant" in prof:
        return ["USD", CURRENCY[prof["domicile"]]], [False, True]
    rng = _rng(seed, 5, prof["idx"])
    dom = prof["domicile"]
    base = _choice(rng, BASE_MIX[dom]) if dom in BASE_MIX else CURRENCY[dom]
    mix = CLASS_MIX.get(dom, OTHER_CLASSES)
    currencies, hedged = [base], [False]
    for _ in range(1, prof["n_sc"]):
        c = _choice(rng, mix)
        c = base if c == BASE else c
        h = bool(rng.random() < HEDGE_P[prof["ac"]])
        currencies.append(c)
        hedged.append(h and c != base)
    return currencies, hedged
