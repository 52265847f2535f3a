/*
 * icc.c: the sRGB ICC profile gigadream embeds in outputs whose seed had no
 * profile (noise, untagged photos), so that viewers and print drivers read
 * the pixels as the sRGB they are (the network was trained on sRGB photos).
 *
 * lcms2 makes the profile.  Its header carries the profile's creation time,
 * which would make two renders of the same job differ; the date is set to a
 * fixed one so that the same job still gives the same bytes.
 */
#include "gigadream/imageio.h"

#include <lcms2.h>
#include <stdlib.h>
#include <string.h>

/* ICC.1 header: dateTimeNumber at byte 24 (year, month, day, hours, minutes,
 * seconds, each a big-endian uint16). */
#define ICC_DATE_OFFSET 24

gd_status gd_srgb_profile(void **icc, size_t *len, gd_err *err)
{
    *icc = NULL;
    *len = 0;
    cmsHPROFILE p = cmsCreate_sRGBProfile();
    if (!p)
        return gd_err_set(err, GD_ENOMEM, "lcms2 could not make the sRGB profile");
    cmsUInt32Number n = 0;
    gd_status st = GD_OK;
    unsigned char *mem = NULL;
    if (!cmsSaveProfileToMem(p, NULL, &n) || n < 128) {
        st = gd_err_set(err, GD_ENOMEM, "lcms2 could not size the sRGB profile");
        goto done;
    }
    if (!(mem = gd_malloc(n, "the sRGB ICC profile", err))) {
        st = GD_ENOMEM;
        goto done;
    }
    if (!cmsSaveProfileToMem(p, mem, &n)) {
        st = gd_err_set(err, GD_ENOMEM, "lcms2 could not write the sRGB profile");
        goto done;
    }
    /* 2000-01-01 00:00:00: any fixed date; see above. */
    static const unsigned char date[12] = {0x07, 0xd0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0};
    memcpy(mem + ICC_DATE_OFFSET, date, sizeof date);
    *icc = mem;
    *len = n;
    mem = NULL;
done:
    free(mem);
    cmsCloseProfile(p);
    return st;
}
