/*
 * SMS segment counting (see segments.h). One pass over the body decodes
 * strict UTF-8 and counts, side by side, what the text costs in GSM 7-bit
 * septets and in UTF-16 code units, packing each into multipart segments as
 * it goes; at the end the encoding is chosen and its count reported.
 *
 * Sizes (3GPP TS 23.038 / 23.040): a message sent alone carries 140 octets
 * of text, i.e. 160 septets or 70 UCS-2 units. Each part of a multipart
 * message gives 6 octets to the concatenation header (UDH), leaving 153
 * septets or 67 units. A handset cannot join a character split across two
 * parts, so an escape pair (extension-table character) or a surrogate pair
 * that does not fit in a part starts the next one.
 */
#include "segments.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/banned.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define GSM7_SINGLE 160 /* septets in a message sent alone */
#define GSM7_MULTI 153  /* septets per part of a multipart message */
#define UCS2_SINGLE 70  /* UTF-16 units in a message sent alone */
#define UCS2_MULTI 67   /* UTF-16 units per part of a multipart message */

/* Not a Unicode code point; marks the escape position in GSM7_BASIC. */
#define NOT_A_CHAR 0x110000u

/*
 * The GSM 03.38 default alphabet in code order (0x00..0x7F), as Unicode.
 * Position 0x1B is the escape to the extension table, not a character.
 * Each of these costs one septet.
 */
static const uint32_t GSM7_BASIC[128] = {
	/* 0x00 @ £ $ ¥ è é ù ì */
	'@', 0x00A3, '$', 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC,
	/* 0x08 ò Ç LF Ø ø CR Å å */
	0x00F2, 0x00C7, '\n', 0x00D8, 0x00F8, '\r', 0x00C5, 0x00E5,
	/* 0x10 Δ _ Φ Γ Λ Ω Π Ψ */
	0x0394, '_', 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8,
	/* 0x18 Σ Θ Ξ ESC Æ æ ß É */
	0x03A3, 0x0398, 0x039E, NOT_A_CHAR, 0x00C6, 0x00E6, 0x00DF, 0x00C9,
	/* 0x20: as ASCII, except ¤ where ASCII has $ */
	' ', '!', '"', '#', 0x00A4, '%', '&', '\'',
	'(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7',
	'8', '9', ':', ';', '<', '=', '>', '?',
	/* 0x40: ¡, A-Z, Ä Ö Ñ Ü § */
	0x00A1, 'A', 'B', 'C', 'D', 'E', 'F', 'G',
	'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W',
	'X', 'Y', 'Z', 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7,
	/* 0x60: ¿, a-z, ä ö ñ ü à */
	0x00BF, 'a', 'b', 'c', 'd', 'e', 'f', 'g',
	'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w',
	'x', 'y', 'z', 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0,
};

/* The extension table: sent as escape + code, two septets each. */
static const uint32_t GSM7_EXTENSION[] = {
	0x000C /* form feed */, '^', '{', '}', '\\', '[', '~', ']', '|', 0x20AC /* € */,
};

/* Fills parts of `size` units; a character of `cost` units is never split. */
struct packer {
	size_t size;  /* units per part */
	size_t total; /* units seen */
	size_t parts; /* parts started */
	size_t fill;  /* units in the last part */
};

/* What one pass over the body found. */
struct scan {
	size_t chars;
	struct packer gsm7; /* septets; meaningful while all_gsm7 */
	struct packer ucs2; /* UTF-16 code units */
	bool all_gsm7;
	uint32_t non_gsm7_char; /* the first one, when !all_gsm7 */
	size_t non_gsm7_at;
	bool has_nul;
	size_t nul_at;
};

static void packer_add(struct packer *p, size_t cost)
{
	if (p->parts == 0 || p->fill + cost > p->size) {
		p->parts++;
		p->fill = 0;
	}
	p->fill += cost;
	p->total += cost;
}

static size_t packer_segments(const struct packer *p, size_t single)
{
	return p->total <= single ? 1 : p->parts;
}

/* Units one segment holds, and what is still free in the last one (segments.h). */
static void packer_room(const struct packer *p, size_t single, unsigned *per_segment, unsigned *remaining)
{
	if (p->total <= single) {
		*per_segment = (unsigned)single;
		*remaining = (unsigned)(single - p->total);
	} else {
		*per_segment = (unsigned)p->size;
		*remaining = (unsigned)(p->size - p->fill);
	}
}

unsigned sms_gsm7_septets(uint32_t c)
{
	/* Fast path: letters, digits and space are at their ASCII codes. */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == ' ')
		return 1;
	for (size_t i = 0; i < ARRAY_SIZE(GSM7_BASIC); i++)
		if (GSM7_BASIC[i] == c)
			return 1;
	for (size_t i = 0; i < ARRAY_SIZE(GSM7_EXTENSION); i++)
		if (GSM7_EXTENSION[i] == c)
			return 2;
	return 0;
}

/* Length of the sequence a lead byte announces, 0 when it cannot lead. */
static size_t utf8_seq_len(unsigned char lead)
{
	if (lead < 0x80)
		return 1;
	if (lead < 0xC0)
		return 0; /* continuation byte */
	if (lead < 0xE0)
		return 2;
	if (lead < 0xF0)
		return 3;
	if (lead < 0xF8)
		return 4;
	return 0;
}

/*
 * Decodes the character at s[*pos] into *c and moves *pos past it. Returns
 * -1, *pos unchanged, for a stray or missing continuation byte, a sequence
 * cut short by the end, an overlong form, a surrogate or a value above
 * U+10FFFF.
 */
static int utf8_next(const unsigned char *s, size_t len, size_t *pos, uint32_t *c)
{
	static const uint32_t shortest[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n = utf8_seq_len(s[*pos]);

	if (n == 0 || len - *pos < n)
		return -1;
	if (n == 1) {
		*c = s[(*pos)++];
		return 0;
	}
	uint32_t v = s[*pos] & (0x7Fu >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[*pos + i] & 0xC0) != 0x80)
			return -1;
		v = (v << 6) | (s[*pos + i] & 0x3Fu);
	}
	if (v < shortest[n] || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF)
		return -1;
	*c = v;
	*pos += n;
	return 0;
}

int utf8_decode(const char *s, size_t len, size_t *pos, uint32_t *c)
{
	return utf8_next((const unsigned char *)s, len, pos, c);
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t pos = 0;
	uint32_t c;

	while (pos < len)
		if (utf8_next(p, len, &pos, &c) < 0)
			return false;
	return true;
}

static void scan_char(struct scan *sc, uint32_t c)
{
	if (c == 0 && !sc->has_nul) {
		sc->has_nul = true;
		sc->nul_at = sc->chars;
	}
	packer_add(&sc->ucs2, c > 0xFFFF ? 2 : 1);
	if (sc->all_gsm7) {
		unsigned septets = sms_gsm7_septets(c);
		if (septets) {
			packer_add(&sc->gsm7, septets);
		} else {
			sc->all_gsm7 = false;
			sc->non_gsm7_char = c;
			sc->non_gsm7_at = sc->chars;
		}
	}
	sc->chars++;
}

/* One pass over the body; -1 and *bad_at (byte offset) on invalid UTF-8. */
static int scan_body(const unsigned char *s, size_t len, struct scan *sc, size_t *bad_at)
{
	size_t pos = 0;
	uint32_t c;

	memset(sc, 0, sizeof(*sc));
	sc->gsm7.size = GSM7_MULTI;
	sc->ucs2.size = UCS2_MULTI;
	sc->all_gsm7 = true;
	while (pos < len) {
		if (utf8_next(s, len, &pos, &c) < 0) {
			*bad_at = pos;
			return -1;
		}
		scan_char(sc, c);
	}
	return 0;
}

__attribute__((format(printf, 3, 4)))
static void set_detail(char *detail, size_t detail_len, const char *fmt, ...)
{
	va_list ap;

	if (!detail || detail_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, detail_len, fmt, ap);
	va_end(ap);
}

static unsigned clamp_uint(size_t n)
{
	return n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

/* Fills *out from a clean scan, for the encoding req leads to. */
static void fill_info(const struct scan *sc, enum sms_encoding_req req, struct seg_info *out)
{
	if (req != SMS_ENC_UCS2 && sc->all_gsm7) {
		out->encoding = SMS_GSM7;
		out->units = clamp_uint(sc->gsm7.total);
		out->segments = clamp_uint(packer_segments(&sc->gsm7, GSM7_SINGLE));
		packer_room(&sc->gsm7, GSM7_SINGLE, &out->per_segment, &out->remaining);
	} else {
		out->encoding = SMS_UCS2;
		out->units = clamp_uint(sc->ucs2.total);
		out->segments = clamp_uint(packer_segments(&sc->ucs2, UCS2_SINGLE));
		packer_room(&sc->ucs2, UCS2_SINGLE, &out->per_segment, &out->remaining);
	}
}

enum seg_result sms_segments(const char *utf8, size_t len, enum sms_encoding_req req,
			     struct seg_info *out, char *detail, size_t detail_len)
{
	struct scan sc;
	size_t bad_at = 0;

	memset(out, 0, sizeof(*out));
	if (detail && detail_len > 0)
		detail[0] = '\0';
	if (len == 0) {
		set_detail(detail, detail_len, "body is empty");
		return SEG_EMPTY;
	}
	if (scan_body((const unsigned char *)utf8, len, &sc, &bad_at) < 0) {
		set_detail(detail, detail_len, "invalid UTF-8 at byte %zu", bad_at);
		return SEG_INVALID_UTF8;
	}
	if (sc.has_nul) {
		set_detail(detail, detail_len, "NUL character (U+0000) at index %zu", sc.nul_at);
		return SEG_NUL;
	}
	if (req == SMS_ENC_GSM7 && !sc.all_gsm7) {
		set_detail(detail, detail_len,
			   "character U+%04" PRIX32 " at index %zu is not in the GSM 03.38 alphabet",
			   sc.non_gsm7_char, sc.non_gsm7_at);
		return SEG_NOT_GSM7;
	}
	fill_info(&sc, req, out);
	return SEG_OK;
}

const char *sms_encoding_name(enum sms_encoding e)
{
	switch (e) {
	case SMS_GSM7:
		return "GSM7";
	case SMS_UCS2:
		return "UCS2";
	}
	return "UNKNOWN";
}
