#!/usr/bin/env python3
"""A partner's source plugin in Python: a social prescribing service's
referral system, read from its paged JSON API.

The API answers ``GET <base_url>?page_size=N`` with::

    {"count": 1234, "next": "<url of the next page or null>",
     "results": [{"month": "2026-03", "ward": "E05011360", "age_band": "65+",
                  "sex": "F", "ethnic_group": "White: British",
                  "reason": "Loneliness", "referrals": "1,204"}, ...]}

(the shape of a Django REST Framework list). Every request goes through the
host (``ctx.fetch``): its cache, retries, rate limits and partner scoping,
and the API key, which the host adds as a header from the variable that
``api_key_env`` names; this script never sees it.

Months (``2026-03``) become their first day; other values are emitted as
the API sends them; the host parses them against the
contract below (``1,204`` is 1204) and
quarantines the rows it cannot read, with the page and row.

    [[sources]]
    name = "referrals"
    command = ["python3", "examples/partner-plugin-python/referrals_api.py"]
    [sources.options]
    base_url = "https://referrals.example.org/api/referrals/"
    api_key_env = "REFERRALS_API_KEY"
"""

from eqpipe_plugin import DataError, Source, run

CONTRACT = {
    "name": "social_prescribing_referrals",
    "version": 1,
    "description": "Social prescribing referrals by month, ward, age band, sex, ethnic group and reason (counts from the referral system's API)",
    # Small counts of a service's users: kept under restricted/ and
    # published only through an indicator's disclosure control.
    "personal": True,
    "unique": ["month", "ward_code", "age_band", "sex", "ethnic_group", "reason"],
    "columns": [
        {"name": "month", "type": "date", "description": "First day of the month of referral"},
        {"name": "ward_code", "type": "utf8", "categorical": True, "nullable": True, "description": "ONS ward code of the resident's address"},
        {"name": "age_band", "type": "utf8", "categorical": True, "description": "Age band at referral"},
        {"name": "sex", "type": "utf8", "categorical": True, "allowed": ["F", "M", "U"], "description": "Sex as recorded (U: not recorded)"},
        {"name": "ethnic_group", "type": "utf8", "categorical": True, "nullable": True, "description": "Ethnic group as recorded (Census 2021 categories)"},
        {"name": "reason", "type": "utf8", "categorical": True, "description": "Main reason for referral"},
        {"name": "referrals", "type": "int64", "min": 0, "description": "Number of referrals"},
    ],
}

FIELDS = {"month": "month", "ward": "ward_code", "age_band": "age_band", "sex": "sex",
          "ethnic_group": "ethnic_group", "reason": "reason", "referrals": "referrals"}


class ReferralsApi(Source):
    name = "referrals-api"
    version = "0.1.0"
    description = "Social prescribing referrals from a referral system's paged JSON API"
    licence = "Shared under the partnership's data sharing agreement"
    produces = [CONTRACT]
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["base_url"],
        "properties": {
            "base_url": {"type": "string", "description": "The API's list endpoint"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 500},
            "max_pages": {"type": "integer", "minimum": 1, "default": 1000},
            "api_key_env": {"type": "string", "description": "Environment variable holding the API key (sent as the X-Api-Key header by the host)"},
        },
    }

    def run(self, ctx):
        o = ctx.options
        secrets = {"X-Api-Key": o["api_key_env"]} if o.get("api_key_env") else None
        sep = "&" if "?" in o["base_url"] else "?"
        url = f"{o['base_url']}{sep}page_size={o.get('page_size', 500)}"
        pages = rows = 0
        expected = None
        while url:
            if pages >= o.get("max_pages", 1000):
                raise DataError(f"the API still had pages after max_pages = {pages}: raise it, or check the API's `next` links")
            page = ctx.fetch(url, secret_headers=secrets).json()
            if not isinstance(page, dict) or "results" not in page:
                raise DataError(f"page {pages + 1} of the API is not a list page (no `results`)")
            expected = page.get("count", expected)
            batch = []
            for r in page["results"]:
                row = {col: _text(r.get(key)) for key, col in FIELDS.items()}
                row["month"] = _first_of_month(row["month"])
                batch.append(row)
            ctx.emit(CONTRACT["name"], batch or _empty())
            rows += len(batch)
            pages += 1
            ctx.progress(rows, expected or 0, f"page {pages}")
            url = page.get("next")
        if expected is not None and expected != rows:
            # The API's own total disagrees with what its pages held.
            ctx.warn_coverage("referral rows the API counted but its pages did not hold", abs(expected - rows), expected, CONTRACT["name"])
        ctx.log(f"read {rows} rows in {pages} pages")


def _first_of_month(v):
    """The API gives the month as ``YYYY-MM``; the contract's date is its
    first day. Anything else is passed on for the host to parse or reject."""
    if v and len(v) == 7 and v[4] == "-" and v[:4].isdigit() and v[5:].isdigit():
        return v + "-01"
    return v


def _text(v):
    return None if v is None else str(v)


def _empty():
    import pyarrow as pa
    return pa.table({c: pa.array([], pa.string()) for c in FIELDS.values()})


if __name__ == "__main__":
    run(ReferralsApi())
