#include "timefmt.h"

#include <stdio.h>

/* days from civil and back: the era arithmetic of H. Hinnant's "chrono-Compatible Low-Level
 * Date Algorithms", written out here for int64_t */
int64_t time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, size_t n, unsigned *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        *v = *v * 10 + (unsigned)(s[i] - '0');
    }
    return 1;
}

static int leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "YYYY-MM-DD" at s (10 bytes) -> days */
static int date10(const char *s, int64_t *days)
{
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, m, d;

    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' ||
        !digits(s + 8, 2, &d))
        return PS_E_INVAL;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap(y)))
        return PS_E_INVAL;
    *days = time_days_from_civil(y, m, d);
    return PS_OK;
}

int time_parse_date(const char *s, size_t n, int64_t *days)
{
    if (n != TIME_DATE_LEN)
        return PS_E_INVAL;
    return date10(s, days);
}

int time_parse_stamp(const char *s, size_t n, int64_t *t)
{
    unsigned hh, mm, ss;
    int64_t days;

    if (n != TIME_STAMP_LEN || date10(s, &days) != PS_OK || s[10] != 'T' ||
        !digits(s + 11, 2, &hh) || s[13] != ':' || !digits(s + 14, 2, &mm) || s[16] != ':' ||
        !digits(s + 17, 2, &ss) || s[19] != 'Z' || hh > 23 || mm > 59 || ss > 59)
        return PS_E_INVAL;
    *t = days * 86400 + hh * 3600 + mm * 60 + ss;
    return PS_OK;
}

int64_t time_day_of(int64_t t)
{
    return t / 86400 - (t % 86400 < 0);
}

int time_format_date(int64_t days, char out[TIME_DATE_LEN + 1])
{
    int64_t y;
    unsigned m, d;

    /* 0001-01-01 .. 9999-12-31 */
    if (days < -719162 || days > 2932896)
        return PS_E_INVAL;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, TIME_DATE_LEN + 1, "%04u-%02u-%02u", (unsigned)y, m, d);
    return PS_OK;
}

int time_format_stamp(int64_t t, char out[TIME_STAMP_LEN + 1])
{
    int64_t day = time_day_of(t), sec = t % 86400 + (t % 86400 < 0 ? 86400 : 0);
    char date[TIME_DATE_LEN + 1];

    if (time_format_date(day, date) != PS_OK)
        return PS_E_INVAL;
    snprintf(out, TIME_STAMP_LEN + 1, "%sT%02u:%02u:%02uZ", date, (unsigned)(sec / 3600),
             (unsigned)(sec / 60 % 60), (unsigned)(sec % 60));
    return PS_OK;
}
