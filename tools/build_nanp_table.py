"""Build rules/packs/nanp.toml: NANP area code -> country, state(s), IANA zone(s).

Run at development time (`python tools/build_nanp_table.py`); the output is committed data.
Starts from phonenumbers' per-prefix geocoder and time-zone tables, then applies the
corrections of regulations.md section 6.1 (area codes spanning two zones, Arizona's
no-DST/Navajo oddities), which phonenumbers gets wrong or incomplete for US numbers.

An area code's zones are every zone phonenumbers gives any of its exchanges, not only the
zone of its area-code entry: that entry alone put 219 (Gary, IN), 270 (Paducah, KY) and 423
(Chattanooga, TN) in one wrong zone, and left out West Wendover's in 775. The guard takes
every candidate at its strictest, so a zone too many costs an hour of lawful calls, and a
zone too few allows unlawful ones. An overlay without exchange data takes its parent's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import phonenumbers
from phonenumbers import geocoder, timezone
from phonenumbers.tzdata import TIMEZONE_DATA

OUT = Path(__file__).resolve().parents[1] / "rules" / "packs" / "nanp.toml"

STATES = {
    "Alabama": "AL",
    "Alaska": "AK",
    "Arizona": "AZ",
    "Arkansas": "AR",
    "California": "CA",
    "Colorado": "CO",
    "Connecticut": "CT",
    "Delaware": "DE",
    "Florida": "FL",
    "Georgia": "GA",
    "Hawaii": "HI",
    "Idaho": "ID",
    "Illinois": "IL",
    "Indiana": "IN",
    "Iowa": "IA",
    "Kansas": "KS",
    "Kentucky": "KY",
    "Louisiana": "LA",
    "Maine": "ME",
    "Maryland": "MD",
    "Massachusetts": "MA",
    "Michigan": "MI",
    "Minnesota": "MN",
    "Mississippi": "MS",
    "Missouri": "MO",
    "Montana": "MT",
    "Nebraska": "NE",
    "Nevada": "NV",
    "New Hampshire": "NH",
    "New Jersey": "NJ",
    "New Mexico": "NM",
    "New York": "NY",
    "North Carolina": "NC",
    "North Dakota": "ND",
    "Ohio": "OH",
    "Oklahoma": "OK",
    "Oregon": "OR",
    "Pennsylvania": "PA",
    "Rhode Island": "RI",
    "South Carolina": "SC",
    "South Dakota": "SD",
    "Tennessee": "TN",
    "Texas": "TX",
    "Utah": "UT",
    "Vermont": "VT",
    "Virginia": "VA",
    "Washington": "WA",
    "Washington State": "WA",  # phonenumbers' name for 206, 360, 425, 509, 564
    "Washington D.C.": "DC",
    "Washington, D.C.": "DC",
    "West Virginia": "WV",
    "Wisconsin": "WI",
    "Wyoming": "WY",
    "Alberta": "AB",
    "British Columbia": "BC",
    "British Colombia": "BC",  # sic, phonenumbers' name for 257
    "Manitoba": "MB",
    "New Brunswick": "NB",
    "Newfoundland and Labrador": "NL",
    "Nova Scotia": "NS",
    "Ontario": "ON",
    "Prince Edward Island": "PE",
    "Quebec": "QC",
    "Saskatchewan": "SK",
    "Northwest Territories": "NT",
    "Nunavut": "NU",
    "Yukon": "YT",
}
# Postal abbreviations phonenumbers uses after a city ("New York, NY").
ABBREVIATIONS = set(STATES.values())

ET, CT, MT, PT = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"
# regulations.md 6.1 [U]: area codes spanning two zones, and Arizona (no DST; Navajo DST).
CORRECTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "850": ((ET, CT), "Florida panhandle: Eastern and Central"),
    "208": (("America/Boise", PT), "Idaho: Mountain and Pacific"),
    "541": ((PT, "America/Boise"), "Oregon: Pacific, Malheur County Mountain"),
    "458": ((PT, "America/Boise"), "Oregon overlay of 541: Pacific and Mountain"),
    "605": ((CT, MT), "South Dakota: Central and Mountain"),
    "701": ((CT, MT), "North Dakota: Central and Mountain"),
    "308": ((CT, MT), "Nebraska west: Central and Mountain"),
    "785": ((CT, MT), "Kansas north: Central and Mountain"),
    "620": ((CT, MT), "Kansas south: Central and Mountain"),
    "812": (("America/Indiana/Indianapolis", CT), "Indiana south: Eastern and Central"),
    "930": (("America/Indiana/Indianapolis", CT), "Indiana overlay of 812: Eastern and Central"),
    "574": (("America/Indiana/Indianapolis", CT), "Indiana north: Eastern and Central"),
    "906": (("America/Detroit", "America/Menominee"), "Michigan UP: Eastern and Central"),
    "931": ((CT, ET), "Tennessee: Central and Eastern"),
    "334": ((CT, ET), "Alabama: Phenix City, Lanett and Valley keep Eastern time, unofficially"),
    "580": ((CT, MT), "Oklahoma panhandle: Kenton keeps Mountain time, unofficially"),
    "606": ((ET, CT), "Kentucky east: Eastern and Central"),
    "907": (("America/Anchorage", "America/Adak"), "Alaska: Alaska and Hawaii-Aleutian"),
    "928": (("America/Phoenix", MT), "Arizona: no DST, but the Navajo Nation observes DST"),
    "602": (("America/Phoenix",), "Arizona: no DST"),
    "480": (("America/Phoenix",), "Arizona: no DST"),
    "520": (("America/Phoenix",), "Arizona: no DST"),
}


# US territories with NANP area codes. phonenumbers gives them regions of their own, so
# without a row here their numbers had no US rule at all: no National Do Not Call Registry
# lookup, no calling hours. The TCPA and the Telemarketing Sales Rule apply there.
TERRITORIES = ("PR", "VI", "GU", "AS", "MP")

# Overlays that phonenumbers knows only by their area-code entry, which is wrong or too
# narrow for them: they serve their parent's area, so they take its zones.
OVERLAYS: dict[str, str] = {
    "448": "850",  # Florida panhandle (phonenumbers: Eastern only)
    "689": "407",  # Orlando (phonenumbers: Central)
    "364": "270",  # Kentucky west (phonenumbers: Eastern only)
    "986": "208",  # Idaho
    "474": "306",  # Saskatchewan, no DST (phonenumbers: Winnipeg, which has DST)
}


def exchange_zones(npa: int) -> tuple[str, ...]:
    """Every zone phonenumbers gives the area code or any of its exchanges, most common
    first (the area code's own entry breaks ties)."""
    counts: dict[str, int] = {}
    prefix = f"1{npa}"
    for key, zones in TIMEZONE_DATA.items():
        if key.startswith(prefix):
            for zone in zones:
                if "/" in zone:
                    counts[zone] = counts.get(zone, 0) + (1 if key != prefix else 0)
    return tuple(sorted(counts, key=lambda zone: -counts[zone]))


NON_GEOGRAPHIC_ZONES = 20  # phonenumbers gives a code without a place every NANP zone (42)


def zones_of(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    return tuple(z for z in timezone.time_zones_for_geographical_number(number) if "/" in z)


def states_of(description: str) -> tuple[str, ...]:
    """The states or provinces an area code's description names (several for 902,
    "Nova Scotia/Prince Edward Island"); () when it names none this tool knows."""
    if description in STATES:
        return (STATES[description],)
    parts = description.split("/")
    if len(parts) > 1 and all(part in STATES for part in parts):
        return tuple(STATES[part] for part in parts)
    tail = description.rsplit(",", 1)[-1].strip()
    return (tail,) if tail in ABBREVIATIONS else ()


def main() -> int:
    lines = [
        "# NANP area code -> country, state/province, IANA time zones.",
        "# Generated by tools/build_nanp_table.py from phonenumbers "
        f"{phonenumbers.__version__}, then corrected",
        "# per regulations.md section 6.1 (`corrected` says why). Edit the tool, not this file.",
        "",
    ]
    entries: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {}  # npa -> row
    unplaced: list[str] = []
    for npa in range(200, 1000):
        number = phonenumbers.parse(f"+1{npa}2000000")
        country = phonenumbers.region_code_for_number(number)
        if country in TERRITORIES:  # phonenumbers' own region: US law applies there
            country, states = "US", (country,)
        elif country in ("US", "CA"):
            description = geocoder.description_for_valid_number(number, "en")
            states = states_of(description)
            # Non-geographic codes (toll-free, 5XX, 900) have no description and every NANP
            # zone; a new geographic code phonenumbers has not named yet has a few.
            named = description or len(zones_of(number)) < NON_GEOGRAPHIC_ZONES
            if not states and named and description not in ("Canada", "United States"):
                unplaced.append(f"{npa} {description!r}")
        else:
            continue
        zones = zones_of(number)
        if not zones or not states:
            continue
        note = ""
        exchanges = exchange_zones(npa)
        if str(npa) in CORRECTIONS:
            zones, note = CORRECTIONS[str(npa)]
        elif not set(exchanges) <= set(zones):
            note = "zones of its exchanges: " + ", ".join(exchanges)
            zones = tuple(dict.fromkeys((*exchanges, *zones)))
        entries[str(npa)] = (country, states, zones, note)
    if unplaced:
        # A geographic area code left out is read as placed nowhere (a toll-free number):
        # Washington's 206 was, on every US clock. Name it in STATES instead.
        print("descriptions naming no known state:", *unplaced, sep="\n  ", file=sys.stderr)
        return 1
    for overlay, parent in OVERLAYS.items():
        country, states, _, _ = entries[overlay]
        entries[overlay] = (country, states, entries[parent][2], f"overlay of {parent}: its zones")
    for npa, (country, states, zones, note) in entries.items():
        zone_list = ", ".join(f'"{z}"' for z in zones)
        region_list = ", ".join(f'"{country}-{state}"' for state in states)
        extra = f', corrected = "{note}"' if note else ""
        lines.append(
            f'"{npa}" = {{ country = "{country}", regions = [{region_list}], '
            f"timezones = [{zone_list}]{extra} }}"
        )
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(lines) - 4} area codes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
