/*
 * timefmt.h - the two time formats of the JSON documents (AEO records, P2P envelopes):
 *   timestamp  RFC 3339 in UTC with whole seconds, exactly "YYYY-MM-DDTHH:MM:SSZ" (20 bytes:
 *              upper-case T and Z, no fraction, no offset); years 0001-9999; no leap second.
 *   date       "YYYY-MM-DD" (10 bytes), a calendar day in UTC.
 * Times are seconds since the Unix epoch (negative before 1970); dates are days since
 * 1970-01-01. Pure functions, no allocation, no locale, no time zone.
 */
#ifndef PS_TIMEFMT_H
#define PS_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TIME_STAMP_LEN 20 /* "YYYY-MM-DDTHH:MM:SSZ" */
#define TIME_DATE_LEN  10 /* "YYYY-MM-DD" */

/* Days since 1970-01-01 of a proleptic Gregorian date (no range check). */
int64_t time_days_from_civil(int64_t y, unsigned m, unsigned d);

/* s[0..n) must be exactly a timestamp / date as above (PS_E_INVAL otherwise). */
int time_parse_stamp(const char *s, size_t n, int64_t *t) PS_WUR;
int time_parse_date(const char *s, size_t n, int64_t *days) PS_WUR;

/* Format into out (TIME_STAMP_LEN + 1 / TIME_DATE_LEN + 1 bytes, NUL-terminated);
 * PS_E_INVAL outside years 0001-9999. */
int time_format_stamp(int64_t t, char out[TIME_STAMP_LEN + 1]) PS_WUR;
int time_format_date(int64_t days, char out[TIME_DATE_LEN + 1]) PS_WUR;

/* The day (days since 1970-01-01) of a time. */
int64_t time_day_of(int64_t t);

#endif
