"""Where the callee is: country, candidate regions and IANA time zones.

A known customer address (`callee_timezone`, `callee_region` on the call) overrides what the
number says. Otherwise: NANP numbers by area code (rules/packs/nanp.toml: phonenumbers'
tables corrected for the area codes spanning two zones and Arizona's DST oddities); a pack's
geographic prefixes (AU 02/03/07/08, ES Canary prefixes); mobiles and everything else carry
no location, so every zone of the country is a candidate. Rules must allow the call in every
candidate (regulations.md, guard conventions). Zones are IANA names read through zoneinfo.
An address may give a fixed offset (`EST`): it is read with its summer clock and the clocks
of the address's region and the number beside it, as a system writes `EST` all year. A
name for UTC or for no zone at all is refused (`names_no_place`). An address that disagrees
with the number (another country, or another state than a US area code's) keeps the
number's clocks beside its own for the rules the number applies (`_held_clocks`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone
from phonenumbers.phonemetadata import PhoneMetadata

from rules.jurisdictions.loader import MAX_PREFIX_DIGITS, nanp_table
from rules.models import CallAttempt
from rules.numbers import ParsedNumber, shorten
from rules.policy import Policy

_NO_LOCATION_TYPES = frozenset(
    {
        "mobile",
        "toll_free",
        "premium_rate",
        "shared_cost",
        "voip",
        "personal_number",
        "pager",
        "uan",
        "voicemail",
    }
)


@dataclass(frozen=True, slots=True)
class CalleeLocation:
    """Every place the callee may be. Rules must allow the call in all of them.

    `source` says how it was found: `customer` (given with the call), `number` (inferred),
    or `unknown`. `regions` are ISO 3166-2 codes (`US-FL`, `AU-NSW`, `FR-67`, `ES-CT`);
    empty means the region is not known (rules then take every region). `basis` says in
    words what the inference rested on; `problems` lists customer data that was ignored.

    `held` are the number's own clocks, the last of `timezones`, read beside those of an
    address that disagrees with the number (`_held_clocks`), and `held_why` says why; the
    tables named in `on_address` (`US`, `US-CA`) are read on the address's clocks alone.
    `held_regions`, for an address that disagrees with the number (abroad, or in another
    state), are the regions the number places the callee in (empty: anywhere in
    `country`), where a blackout holds them too; None when the address agrees. An address
    abroad whose clocks are the number's (GB-LND has no clocks of its own) holds no clock
    but has `held_why` and `held_regions`.
    """

    country: str | None
    regions: tuple[str, ...] = ()
    timezones: tuple[str, ...] = ()
    source: str = "unknown"
    basis: str = ""
    problems: tuple[str, ...] = ()
    held: tuple[str, ...] = ()
    on_address: tuple[str, ...] = ()
    held_why: str = ""
    held_regions: tuple[str, ...] | None = None

    def address_clocks(self) -> tuple[int, ...]:
        """The indices of the address's own clocks in `timezones` (all of them when none
        of the number's are held)."""
        return tuple(range(len(self.timezones) - len(self.held)))

    def local_times(self, at: datetime) -> tuple[datetime, ...]:
        """`at` on the wall clock of each zone."""
        return local_view(self.timezones, at).moments


@lru_cache(maxsize=256)
def _zones(timezones: tuple[str, ...]) -> tuple[ZoneInfo, ...]:
    return tuple(ZoneInfo(tz) for tz in timezones)


def utc_offsets(timezones: tuple[str, ...], at: datetime) -> frozenset[timedelta | None]:
    """The UTC offsets the zones keep at `at`: the clocks they show, whatever their names."""
    return frozenset(at.astimezone(zone).utcoffset() for zone in _zones(timezones))


@lru_cache(maxsize=256)
def offsets_of_year(timezones: tuple[str, ...], at: datetime) -> frozenset[timedelta]:
    """Every UTC offset the zones keep in `at`'s year (winter, summer and now): one offset
    for a zone without summer time (`EST`, `Etc/GMT+4`, `America/Phoenix`). Cached: a
    toll-free call with a customer zone asks for each candidate zone's once per state table,
    for the windows and again for the holidays."""
    year = at.astimezone(UTC).year
    instants = (at, datetime(year, 1, 15, tzinfo=UTC), datetime(year, 7, 15, tzinfo=UTC))
    out = set()
    for zone in _zones(timezones):
        for instant in instants:
            offset = instant.astimezone(zone).utcoffset()
            if offset is not None:
                out.add(offset)
    return frozenset(out)


DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # as `%a` in the C locale


def clock_of(t: datetime) -> tuple[int, float]:
    """`t`'s (weekday, seconds since its midnight), as calling windows read a clock."""
    return t.weekday(), t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


_MINUTE = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Clock:
    """What one UTC offset's wall clock shows through a whole minute, but the seconds."""

    offset: timedelta
    zones: tuple[int, ...]  # the indices of the candidate zones keeping this offset
    minute_text: str  # `2026-11-29T15:42:`, as isoformat() starts
    offset_text: str  # `+11:00`, as isoformat() ends
    weekday: int
    minute_seconds: int  # seconds from local midnight to this minute
    day: date


@lru_cache(maxsize=1024)  # per zone set: NANP alone has some 35
def _minute_clocks(timezones: tuple[str, ...], minute: int) -> tuple[_Clock, ...] | None:
    """The wall clocks the zones show through `minute` (minutes since the epoch), one per
    distinct UTC offset; None when an offset changes within the minute or is not a whole
    number of minutes (then each instant is read through zoneinfo). tzdata changes offsets
    at whole minutes, so a view is built from this once a minute instead of a zoneinfo
    lookup and a date's formatting per zone per call."""
    zones = _zones(timezones)
    try:
        start = _EPOCH + minute * _MINUTE
        last = start + timedelta(seconds=59, microseconds=999_999)
        at_start = tuple(start.astimezone(zone) for zone in zones)
        offsets = tuple(t.utcoffset() or timedelta(0) for t in at_start)
        if any(last.astimezone(z).utcoffset() != o for z, o in zip(zones, offsets, strict=True)):
            return None
    except (OverflowError, ValueError, OSError):  # at datetime's edges: read as it comes
        return None
    if any(o % _MINUTE for o in offsets):
        return None
    indices: dict[timedelta, list[int]] = {}
    for i, offset in enumerate(offsets):
        indices.setdefault(offset, []).append(i)
    clocks = []
    for offset, ix in indices.items():
        t = at_start[ix[0]]
        text = t.isoformat()  # `YYYY-MM-DDTHH:MM:00+HH:MM`: a whole minute
        clocks.append(
            _Clock(
                offset,
                tuple(ix),
                text[:17],
                text[19:],
                t.weekday(),
                t.hour * 3600 + t.minute * 60,
                t.date(),
            )
        )
    return tuple(clocks)


class LocalView:
    """The decision's instant on every candidate zone's clock, worked out once per decision.

    The hours, holiday and consent rules and the decision itself all read it. Treat it as a
    value: `moments`, `when` and the memos behind `clocks_of` and `when_on` are filled in on
    use.
    """

    __slots__ = (
        "_at",
        "_clocks_of",
        "_moments",
        "_when",
        "_when_on",
        "clock",
        "dates",
        "days",
        "iso",
        "offsets",
        "zones",
    )

    def __init__(self, timezones: tuple[str, ...], at: datetime) -> None:
        self._at = at
        self.zones = timezones
        self._moments: tuple[datetime, ...] | None = None
        utc = at.astimezone(UTC)
        clocks = _minute_clocks(timezones, (utc - _EPOCH) // _MINUTE)  # exact, unlike floats
        if clocks is not None and at.tzinfo is not UTC and at.tzinfo in _zones(timezones):
            # astimezone() leaves a time in one of the zones as it is, even one in a
            # spring-forward gap, which UTC would move: read as zoneinfo reads it.
            clocks = None
        if clocks is None:  # zone by zone, as zoneinfo reads it
            moments = self.moments
            offsets = tuple(t.utcoffset() or timedelta(0) for t in moments)
            iso = [t.isoformat() for t in moments]
            # (weekday, seconds since local midnight), as calling windows read them.
            clock = [clock_of(t) for t in moments]
            dates = [t.date() for t in moments]
        else:
            # Every clock shows the same seconds: only they are formatted for each call.
            size = len(timezones)  # the lists' placeholders are each replaced below
            offsets_of: list[timedelta] = [_MINUTE] * size
            iso = [""] * size
            clock = [(0, 0.0)] * size
            dates = [date.min] * size
            second, micro = utc.second, utc.microsecond
            fraction = micro / 1e6
            second_text = f"{second:02d}.{micro:06d}" if micro else f"{second:02d}"
            for c in clocks:
                text = c.minute_text + second_text + c.offset_text
                # Summed in zoneinfo's order above: the float comes out the same.
                time_of_week = (c.weekday, c.minute_seconds + second + fraction)
                for i in c.zones:
                    offsets_of[i] = c.offset
                    iso[i] = text
                    clock[i] = time_of_week
                    dates[i] = c.day
            offsets = tuple(offsets_of)
        self.offsets: tuple[timedelta, ...] = offsets
        self.iso: Mapping[str, str] = dict(zip(timezones, iso, strict=True))  # read-only
        self.clock: tuple[tuple[int, float], ...] = tuple(clock)
        self.dates: tuple[date, ...] = tuple(dates)  # each zone's local date
        # The distinct local dates, in zone order.
        self.days: tuple[date, ...] = tuple(dict.fromkeys(dates))
        self._when: str | None = None
        self._clocks_of: dict[tuple[str, ...], tuple[int, ...]] = {}
        self._when_on: dict[tuple[int, ...], str] = {}

    @property
    def moments(self) -> tuple[datetime, ...]:
        """The instant as an aware datetime in each zone (made on first use)."""
        if self._moments is None:
            self._moments = tuple(self._at.astimezone(zone) for zone in _zones(self.zones))
        return self._moments

    def moment(self, index: int) -> datetime:
        """The instant as an aware datetime in zone `index`."""
        if self._moments is not None:
            return self._moments[index]
        return self._at.astimezone(_zones(self.zones)[index])

    def clocks_of(self, zones: tuple[str, ...]) -> tuple[int, ...]:
        """The indices of the candidate zones that show the same time as one of `zones`
        (by UTC offset at this instant, whatever their names: `US/Eastern` is New York's).
        Memoised: a toll-free number asks for some 25 states, most on the same few clocks."""
        picked = self._clocks_of.get(zones)
        if picked is None:
            own = utc_offsets(zones, self._at)
            picked = tuple(i for i, offset in enumerate(self.offsets) if offset in own)
            self._clocks_of[zones] = picked
        return picked

    def stamp(self, index: int) -> str:
        """Zone `index`'s local weekday and time, as `Mon 09:30:00` (`%a %H:%M:%S`)."""
        # Read off the ISO text rather than strftime, which is several times slower; the
        # reasons are English, as %a is in the C locale the guard runs in.
        return f"{DAY_NAMES[self.clock[index][0]]} {self.iso[self.zones[index]][11:19]}"

    @property
    def when(self) -> str:
        """Every zone's local time, as an allowing calling window reports it."""
        if self._when is None:
            self._when = self.when_on(tuple(range(len(self.zones))))
        return self._when

    def when_on(self, indices: tuple[int, ...]) -> str:
        """`when` of some of the zones (by index)."""
        text = self._when_on.get(indices)
        if text is None:
            text = ", ".join(f"{self.stamp(i)} ({self.zones[i]})" for i in indices)
            self._when_on[indices] = text
        return text

    def days_on(self, indices: Iterable[int]) -> tuple[date, ...]:
        """`days` of some of the zones (by index)."""
        return tuple(dict.fromkeys(self.dates[i] for i in indices))


def local_view(timezones: tuple[str, ...], at: datetime) -> LocalView:
    """Cached: equal instants give equal views (`at`'s own zone does not matter)."""
    # Keyed in UTC: two readings of a fall-back hour on one zone compare (and hash) equal
    # whatever their `fold`, so the second got the first's view, an hour off.
    return _local_view(timezones, at.astimezone(UTC))


@lru_cache(maxsize=16)
def _local_view(timezones: tuple[str, ...], at: datetime) -> LocalView:
    return LocalView(timezones, at)


def parse_region(text: str | None) -> str | None:
    """A region code as `CC-SUB` in upper case (`us-fl` -> `US-FL`), or None when unreadable."""
    if not text:
        return None
    country, sep, sub = text.strip().upper().partition("-")
    if not sep or len(country) != 2 or not country.isalpha() or not sub.isalnum():
        return None
    if country not in phonenumbers.SUPPORTED_REGIONS or len(sub) > 3:
        return None
    return f"{country}-{sub}"


def is_zone(name: str | None) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: `Australia` is a directory of the zone database, not a zone, and a name
        # longer than a file name can be is refused by the file system. Bad input either
        # way: the guard failing would let the failure policy decide.
        return False
    return True


def address_problems(timezone: str | None, region: str | None, policy: Policy) -> list[str]:
    """What is wrong with a callee address given with a call (empty when it is usable). The
    AGI route and `check` refuse such a call as bad input: a typo'd zone would otherwise be
    dropped, and the number's own location could allow a call the address would block."""
    return read_address(timezone, region, policy)[2]


def read_address(
    timezone: str | None, region: str | None, policy: Policy
) -> tuple[str | None, str | None, list[str]]:
    """The usable zone and region of a callee address (None for one that is missing or
    cannot be used), and what is wrong with it: one reading for `locate` and the refusals."""
    problems = []
    parsed = parse_region(region)
    if region and parsed is None:
        problems.append(f"callee region {shorten(region)!r} is not a code such as US-FL")
    elif parsed is not None and not _known_region(parsed, policy):
        pack = policy.jurisdictions.for_country(parsed[:2])
        kind = "state" if pack is not None and pack.states else "region"
        problems.append(f"callee region {shorten(region or '')!r} is not a {kind} of {parsed[:2]}")
        parsed = None
    zone = timezone if is_zone(timezone) else None
    if timezone and zone is None:
        problems.append(f"callee time zone {shorten(timezone)!r} is not an IANA zone")
    elif zone is not None and names_no_place(zone):
        # UTC is a common CRM default, and tzdata's Factory means "zone unknown": read as an
        # address, either replaced the number's own clocks, and allowed a New York call at
        # 07:30 local time.
        problems.append(
            f"callee time zone {shorten(zone)!r} names no place (UTC, GMT and their aliases,"
            " Factory, localtime): give the callee's own zone, such as America/New_York or"
            " Europe/London, or none"
        )
        zone = None
    return zone, parsed, problems


# IANA names of UTC itself, tzdata's placeholder and this machine's own zone (`localtime`):
# no callee's clock, but the values a system writes when it does not know one. (Another
# fixed offset, Etc/GMT+5 or EST, is read, with more clocks beside it: see `locate`.)
_UTC_NAMES = ("UTC", "UCT", "GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich", "Universal", "Zulu")
_NO_PLACE = frozenset(
    {"Factory", "localtime", *_UTC_NAMES, *(f"Etc/{name}" for name in _UTC_NAMES)}
)


def names_no_place(zone: str) -> bool:
    return _plain_name(zone) in _NO_PLACE


def _plain_name(zone: str) -> str:
    """`zone` without the zone database's `posix/` or `right/` folder (the same zones, the
    second counting leap seconds), which a system's tzdata lays beside the plain names."""
    for folder in ("posix/", "right/"):
        if zone.startswith(folder):
            return zone[len(folder) :]
    return zone


# IANA names of fixed offsets, which no place keeps all year but as a system writes them.
_FIXED_OFFSET = re.compile(r"EST|MST|HST|Etc/GMT[+-]\d{1,2}")


def is_fixed_offset(zone: str) -> bool:
    """A zone that is an offset without summer time (`EST`, `Etc/GMT+5`), not a place's."""
    return _FIXED_OFFSET.fullmatch(_plain_name(zone)) is not None


def summer_of(zone: str, at: datetime) -> tuple[str, ...]:
    """The clock an hour later than a fixed-offset zone, as its summer time would be (EDT
    for `EST`), named as the zone database names offsets; none past UTC+14."""
    offset = ZoneInfo(zone).utcoffset(at)
    hours = int(offset.total_seconds() // 3600) + 1 if offset is not None else 15
    if hours > 14:
        return ()
    # Etc/GMT+4 is four hours WEST of UTC (POSIX's sign).
    return ("Etc/GMT" if hours == 0 else f"Etc/GMT{'+' if hours < 0 else '-'}{abs(hours)}",)


def locate(attempt: CallAttempt, destination: ParsedNumber, policy: Policy) -> CalleeLocation:
    inferred = _from_number(destination, policy)
    country = inferred.country  # whose law applies: the US for its territories' numbers
    zone, region, problems = read_address(attempt.callee_timezone, attempt.callee_region, policy)
    if region is None and zone is None:
        if not problems:
            return inferred  # the number says all there is
        return CalleeLocation(
            country,
            inferred.regions,
            inferred.timezones,
            inferred.source,
            inferred.basis,
            tuple(problems),
        )
    # The clock is the address's: the federal and the state windows are both "in the time
    # zone of the called party", which a known address tells.
    zones = ((zone,) if zone else region_zones(region or "", policy)) or inferred.timezones
    own = region_zones(region, policy) if zone and region else ()
    disagree = zone is not None and bool(own) and not _keeps_a_clock_of(zone, own, attempt.at)
    if disagree:
        # A zone and a region that disagree (Europe/London given with AU-NSW): the callee is
        # in one or the other, so both are read, the strictest reading. (A zone that keeps
        # one of the region's clocks agrees: America/Kentucky/Louisville with US-KY.)
        zones = tuple(dict.fromkeys((*zones, *own)))
    if zone and is_fixed_offset(zone):
        # A system writes `EST` for New York all year, so it may stand for either season's
        # clock (read alone, a call at 21:30 EDT was allowed as 20:30 EST): its summer
        # clock, the address's region's clocks and the number's own are read beside it.
        also = (*region_zones(region or "", policy), *inferred.timezones)
        zones = tuple(dict.fromkeys((*zones, *summer_of(zone, attempt.at), *also)))
    basis = "customer address: " + ", ".join(x for x in (region, zone) if x)
    regions = (region,) if region else inferred.regions
    if _has_state_tables(country, policy) and inferred.regions and region:
        # But the number's state stays a candidate beside the address's, wherever that is
        # (another state, Canada, abroad): Florida, Oklahoma and Maryland presume a callee
        # with their area code is in the state, so state rules apply by area code and by
        # known address (regulations.md 2.5). Elsewhere the address narrows the number.
        regions = tuple(dict.fromkeys((region, *inferred.regions)))
        basis += f"; and by the number ({inferred.basis}): " + ", ".join(inferred.regions)
    elif (
        zone
        and (disagree or (not region and inferred.regions))
        and not _has_state_tables(country, policy)
    ):
        # A zone alone names no state, but the states on that clock are candidates beside
        # the number's: a QLD number given Australia/Perth kept QLD's substitute days only,
        # and WA's were callable. A number placed nowhere (a mobile) keeps every state. So
        # beside a region the zone disagrees with (AU-QLD and Australia/Perth). (Not where
        # state tables pick rules: a US zone spans many states, each with its own law; the
        # area code places the callee there.)
        regions = tuple(dict.fromkeys((*regions, *_regions_on(zone, country, policy))))
    abroad = country is not None and _abroad(zone, region, country, inferred.timezones, policy)
    held, on_address, why = _held_clocks(zone, region, zones, inferred, policy, abroad, attempt.at)
    if held:
        zones = (*zones, *held)
        basis += f"; the number's clocks held too ({', '.join(held)}), {why}"
    elif abroad:
        # No clock to add (an address whose region has no zone table, GB-LND, is read on
        # the number's), but the number's place is still held for blackouts.
        why = f"as the address is outside {country}, the number's country"
        basis += f"; the number's place held too, {why}"
    held_regions = inferred.regions if held or why else None
    return CalleeLocation(
        country,
        regions,
        zones,
        "customer",
        basis,
        tuple(problems),
        held,
        on_address,
        why,
        held_regions,
    )


def _held_clocks(
    zone: str | None,
    region: str | None,
    zones: tuple[str, ...],
    inferred: CalleeLocation,
    policy: Policy,
    abroad: bool,
    at: datetime,
) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """The number's clocks to read beside the address's (`zones`), the tables that keep the
    address's clocks alone, and why; nothing when the address agrees with the number or its
    clocks already include the number's (a 212 number given US-FL: New York is Florida's).

    The strictest reading, as the callee may be travelling or the address be wrong:
    - an address in another country than the number's (an Australian mobile given US-FL)
      holds every rule on the number's clocks as well as the address's: read on Florida's
      alone, a call at 02:00 in Sydney was allowed;
    - in the number's country, where state tables pick rules (the US), a state rule the
      area code applies is read on the number's clocks too: Florida, Oklahoma and Maryland
      presume a callee with their area code is in the state (regulations.md 2.5), and a 305
      number given US-CA was allowed at 20:30 in Miami (17:30 in Los Angeles). The federal
      rule and the address's own state's keep the address's clock, which tells the
      callee's zone (`on_address`).
    Elsewhere in the number's country the address narrows the number, as it did."""
    extra = tuple(z for z in inferred.timezones if not _keeps_a_clock_of(z, zones, at))
    country = inferred.country
    if not extra or country is None:
        return (), (), ""
    if abroad:
        return extra, (), f"as the address is outside {country}, the number's country"
    if not inferred.regions or not _has_state_tables(country, policy):
        return (), (), ""
    if (region is None or region in inferred.regions) and (
        zone is None or _keeps_a_clock_of(zone, inferred.timezones, at)
    ):
        return (), (), ""  # the address agrees with the number (850 given Chicago's zone)
    own = (country, region) if region is not None and region not in inferred.regions else (country,)
    return extra, own, "for the state rules its area code applies"


def _abroad(
    zone: str | None,
    region: str | None,
    country: str,
    number_zones: tuple[str, ...],
    policy: Policy,
) -> bool:
    """Whether an address is in another country than the number's law's (`country`): its
    region's, or its zone's. Either abroad is enough: a Sydney number given AU-NSW and
    Europe/London was read on London's clock alone, and allowed at 02:00 in Sydney.

    A zone's country is the zone database's (`zone.tab`, links followed: `US/Eastern`
    and `America/Juneau` are the US's, `Africa/Ceuta` Spain's, `Pacific/Guam` the US's by
    its law); a fixed offset (`EST`) names none. A name the database does not place counts
    as abroad unless it is one of the country's clocks, the stricter reading."""
    if region is not None and _law_of(region[:2]) != country:
        return True
    if zone is None or is_fixed_offset(zone):
        return False
    if laws := _zone_laws(zone):
        return country not in laws
    return zone not in (*number_zones, *place_zones(country, policy))


def _law_of(country: str) -> str:
    """Whose law covers a country code's callees: US for PR (and US-PR), FR for RE."""
    other = _under_other_law(country)
    return other[0] if other is not None else country


def _keeps_a_clock_of(zone: str, zones: tuple[str, ...], at: datetime) -> bool:
    """Whether `zone` is one of `zones`, or keeps one's offsets through `at`'s year: a link
    or a zone of the same clock (America/Kentucky/Louisville as America/New_York)."""
    if zone in zones:
        return True
    mine = offsets_of_year((zone,), at)
    return any(offsets_of_year((other,), at) == mine for other in zones)


@cache
def _zone_laws(zone: str) -> frozenset[str]:
    """The countries whose law covers a zone's places, by the zone database."""
    return frozenset(_law_of(country) for country in _zone_countries().get(zone, ()))


@cache
def _zone_countries() -> dict[str, frozenset[str]]:
    """Each zone name, links included, with the countries `zone.tab` places it in (one
    line per country and zone; `zone1970.tab` groups countries that share a clock, and
    would place Réunion's in Oman). Read once from the tzdata package, a dependency;
    nothing without it."""
    try:
        folder = resources.files("tzdata") / "zoneinfo"
        table = (folder / "zone.tab").read_text()
        links = (folder / "tzdata.zi").read_text()
    except (ImportError, OSError):
        return {}
    found: dict[str, set[str]] = {}
    for line in table.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        code, _, name, *_ = line.split("\t")
        found.setdefault(name, set()).add(code)
    for line in links.splitlines():
        if line.startswith("L "):
            _, target, link = line.split()
            if target in found:
                found.setdefault(link, set()).update(found[target])
    return {name: frozenset(codes) for name, codes in found.items()}


def names_a_region_of(regions: Iterable[str], country: str) -> bool:
    """Whether one of `regions` (ISO 3166-2 codes) is in `country` (`US-FL` in `US`)."""
    prefix = f"{country}-"
    return any(region.startswith(prefix) for region in regions)


def _regions_on(zone: str, country: str | None, policy: Policy) -> tuple[str, ...]:
    """The regions of `country`'s pack whose clocks include `zone`."""
    pack = policy.jurisdictions.for_country(country) if country else None
    if pack is None:
        return ()
    return tuple(region for region, zones in pack.region_timezones.items() if zone in zones)


def _has_state_tables(code: str | None, policy: Policy) -> bool:
    """Whether the country (of a region code such as `US-FL`) has rules by state (the US)."""
    pack = policy.jurisdictions.for_country(code[:2]) if code else None
    return pack is not None and bool(pack.states)


def _known_region(region: str, policy: Policy) -> bool:
    """Whether `region` is a state, where state tables pick rules by it (an unknown one,
    `US-ZZ`, matched no table and silently dropped every state rule), or one of the regions
    a pack lists (`FR-ZZ` was read as a department without Alsace-Moselle's days)."""
    pack = policy.jurisdictions.for_country(region[:2])
    if pack is None:
        return True
    if pack.states:
        return region[3:] in pack.states or region in _nanp_state_zones()
    return not pack.region_codes or region in pack.region_codes


def read_place(text: str, policy: Policy) -> tuple[str | None, str | None]:
    """A blackout's place, and what is wrong with `text` (None when it is usable): a country
    whose law callees are under (`US`, `FR`; not `RE`, whose numbers are France's callees in
    FR-974) or a region of it as a callee address names one (`US-LA`, `FR-974`)."""
    code = text.strip().upper()
    country = code.partition("-")[0]
    if len(country) != 2 or not country.isalpha() or country not in phonenumbers.SUPPORTED_REGIONS:
        return None, f"place {shorten(text)!r} is not a country code (US) or a region code (US-LA)"
    other_law = _under_other_law(country)
    if other_law is not None:
        return (
            None,
            f"{country} numbers are {other_law[0]}'s callees: name the place {other_law[1]}",
        )
    if "-" not in code:
        return code, None
    _, region, problems = read_address(None, code, policy)
    if region is None:
        problem = problems[0] if problems else f"callee region {shorten(text)!r} is empty"
        return None, problem.replace("callee region", "place", 1)
    return region, None


def _under_other_law(country: str) -> tuple[str, str] | None:
    """(law, place) for a territory whose numbers are another country's callees: Réunion's
    are France's in FR-974, Puerto Rico's (+1 787) the United States' in US-PR."""
    territory = _TERRITORIES.get(country)
    if territory is not None:
        law, regions, _ = territory
        return law, (*regions, law)[0]
    us_region = _us_territories().get(country)
    return ("US", us_region) if us_region is not None else None


@cache
def _us_territories() -> dict[str, str]:
    """The NANP regions whose numbers the area-code table gives US law (Puerto Rico, Guam,
    the Virgin Islands...), each with its US region (`US-PR`): not Cayman's or Jamaica's."""
    table = nanp_table()
    found: dict[str, str] = {}
    for region in phonenumbers.region_codes_for_country_code(1):
        metadata = PhoneMetadata.metadata_for_region(region)
        for code in (metadata.leading_digits or "").split("|") if metadata else ():
            row = table.get(code)
            if row is not None and row[0] == "US" and row[1] and region != "US":
                found[region] = row[1][0]
    return found


def numbers_placed_in(region: str, policy: Policy) -> bool:
    """Whether a number alone places some callees in `region` (an area code, a geographic
    prefix, a territory). Where none does, only a callee address can, and a blackout of the
    region holds every callee of its country without one."""
    if region in _nanp_state_zones():
        return True
    if any(region in regions for _, regions, _ in _TERRITORIES.values()):
        return True
    pack = policy.jurisdictions.for_country(region[:2])
    return pack is not None and any(region in regions for regions, _ in pack.prefixes.values())


def place_zones(place: str, policy: Policy) -> tuple[str, ...]:
    """The clocks of a blackout's place (`read_place`), for the midnights of its dates. A
    country's are its territories' too (Réunion's and Guadeloupe's for France)."""
    pack = policy.jurisdictions.for_country(place[:2])
    home = pack.timezones if pack is not None and pack.timezones else _phonenumbers_zones(place[:2])
    if len(place) > 2:
        return region_zones(place, policy) or home
    abroad = (zone for law, _, zone in _TERRITORIES.values() if law == place)
    return tuple(dict.fromkeys((*home, *abroad)))


def region_zones(region: str, policy: Policy) -> tuple[str, ...]:
    """The zones a region spans: the pack's table, else NANP area codes of that state."""
    pack = policy.jurisdictions.for_country(region[:2])
    if pack is not None and region in pack.region_timezones:
        return pack.region_timezones[region]
    return _nanp_state_zones().get(region, ())


@cache
def _nanp_state_zones() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for _, regions, zones in nanp_table().values():
        for region in regions:
            bucket = out.setdefault(region, [])
            bucket.extend(z for z in zones if z not in bucket)
    return {region: tuple(zones) for region, zones in out.items()}


# Territories phonenumbers names apart whose numbers another country's law covers, with the
# region each is and its clock:
# - Australia's external territories on +61 (CC, CX): the DNCR Act, the Telemarketing
#   Standard and Australian caller-ID rules cover their numbers (regulations.md 1.1, 1.4);
# - France's overseas departments (GP, MQ, GF, RE, YT) and the collectivities where the Code
#   de la consommation applies (BL, MF, PM), each on a country code of its own: D.223-9 reads
#   the hours "in the consumer's time zone", and Bloctel, the caps and the opt-in cover their
#   consumers (regulations.md 3.3; ARCEP gives them canvassing ranges of their own). Without
#   this, a call to Réunion at 03:00 met no French rule at all.
_ON_590 = ("FR-971", "FR-BL", "FR-MF")
_TERRITORIES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "CC": ("AU", (), "Indian/Cocos"),
    "CX": ("AU", (), "Indian/Christmas"),
    # +590 is shared by Guadeloupe, Saint-Barthélemy and Saint-Martin (one clock), and
    # phonenumbers names a mobile GP wherever it is: each number takes all three calendars.
    "GP": ("FR", _ON_590, "America/Guadeloupe"),
    "MQ": ("FR", ("FR-972",), "America/Martinique"),
    "GF": ("FR", ("FR-973",), "America/Cayenne"),
    "RE": ("FR", ("FR-974",), "Indian/Reunion"),
    "YT": ("FR", ("FR-976",), "Indian/Mayotte"),
    "BL": ("FR", _ON_590, "America/St_Barthelemy"),
    "MF": ("FR", _ON_590, "America/Marigot"),
    "PM": ("FR", ("FR-PM",), "America/Miquelon"),
}


def law_country(number: ParsedNumber) -> str | None:
    """The country whose law (and registers) govern calls to `number`: the US for its
    territories' +1 numbers, Australia and France for their territories (`_TERRITORIES`);
    else the country phonenumbers names."""
    country = number.country
    territory = _TERRITORIES.get(country or "")
    if territory is not None:
        return territory[0]
    if (number.e164 or "").startswith("+1") and number.national:
        row = nanp_table().get(number.national[:3])
        if row is not None:
            return row[0]
    return country


def _from_number(destination: ParsedNumber, policy: Policy) -> CalleeLocation:
    country = destination.country
    if country is None or destination.national is None:
        return CalleeLocation(country, source="unknown", basis="no usable number")
    territory = _TERRITORIES.get(country)
    if territory is not None:
        law, regions, zone = territory
        basis = f"{country} number: a territory under {law} law, on {zone}"
        return CalleeLocation(law, regions, (zone,), "number", basis)
    pack = policy.jurisdictions.for_country(country)
    national = destination.national
    if destination.e164 and destination.e164.startswith("+1"):
        row = nanp_table().get(national[:3])
        if row is not None:
            # The table's country: phonenumbers calls +1 787 "PR", and US law applies there.
            nanp_country, regions, zones = row
            basis = f"area code {national[:3]}"
            # A prefix in the law's pack (an override of a two-zone area code, [U] in the
            # table) wins over the table: it was accepted, shown in force, and never read.
            law_pack = policy.jurisdictions.for_country(nanp_country)
            if law_pack is not None and law_pack.prefixes:
                prefix = _longest_prefix(law_pack.prefixes, national)
                if prefix is not None:
                    regions, zones = law_pack.prefixes[prefix]
                    basis = f"prefix {prefix} of the {nanp_country} pack"
            return CalleeLocation(nanp_country, regions, zones, "number", basis)
    elif destination.number_type not in _NO_LOCATION_TYPES and pack is not None:
        prefix = _longest_prefix(pack.prefixes, national)
        if prefix is not None:
            regions, zones = pack.prefixes[prefix]
            return CalleeLocation(
                country, regions, zones, "number", f"geographic prefix {prefix} of {country}"
            )
    zones = pack.timezones if pack is not None and pack.timezones else _phonenumbers_zones(country)
    kind = destination.number_type or "number"
    return CalleeLocation(
        country, (), zones, "number", f"{kind}: no location, every zone of {country}"
    )


def _longest_prefix(prefixes: Mapping[str, object], national: str) -> str | None:
    """The longest of `prefixes` that `national` starts with: a few dict lookups, where
    scanning the AU pack's hundred exchange prefixes cost every call."""
    for length in range(min(len(national), MAX_PREFIX_DIGITS), 0, -1):
        if national[:length] in prefixes:
            return national[:length]
    return None


def _phonenumbers_zones(country: str) -> tuple[str, ...]:
    """Every zone phonenumbers knows for a country without a pack."""
    example = phonenumbers.example_number(country)
    if example is None:
        return ()
    return tuple(z for z in pn_timezone.time_zones_for_number(example) if is_zone(z))
