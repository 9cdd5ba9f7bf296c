#include <string.h>

#include "../../../protocol/buf.h"
#include "../unit.h"

int main(void)
{
    struct buf b;

    buf_init(&b, 8);
    CHECK(buf_append(&b, "12345678", 8) == PS_OK, "append up to the maximum");
    CHECK(buf_append(&b, "9", 1) == PS_E_LIMIT, "append past the maximum fails");
    CHECK(b.len == 8 && memcmp(b.data, "12345678", 8) == 0, "a failed append changes nothing");
    CHECK(b.data[b.len] == 0, "data stays NUL-terminated");
    buf_consume(&b, 3);
    CHECK(buf_unread(&b) == 5 && memcmp(buf_rptr(&b), "45678", 5) == 0, "consume advances");
    buf_consume(&b, 100);
    CHECK(buf_unread(&b) == 0 && b.len == 0, "consuming everything resets");
    CHECK(buf_printf(&b, "%d-%s", 42, "ab") == PS_OK && strcmp((char *)b.data, "42-ab") == 0,
          "printf appends");
    CHECK(buf_printf(&b, "%s", "too long") == PS_E_LIMIT && b.len == 5,
          "printf past the max fails cleanly");
    buf_free(&b);
    return unit_done();
}
