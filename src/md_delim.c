/* Emphasis and strikethrough delimiters written from storage: whether a
 * run of '*' or '~' between two characters reads back, in md4c, as the
 * opener or closer it stands for. CommonMark §6.2 for '*': a run opens
 * when left-flanking, closes when right-flanking, and one that can do
 * both may pair with the wrong partner. md4c 0.4 for '~': a run of one or
 * two opens before non-whitespace, closes after it, and a closer pairs
 * with the oldest open opener; md4c 0.5 holds '~' to the rules of '*':
 * both are asked here. Runs that touch another delimiter of the same
 * character merge into one. A character is known by class: the ASCII
 * byte, ' ' for Unicode whitespace, 'a' for a letter known here,
 * MDR_CH_OTHER for the rest (maybe punctuation, so both readings must
 * hold). */
#include <string.h>

#include "md_read_int.h"

/* Unicode Zs and the line ends (CommonMark §2.1 "Unicode whitespace"). */
static bool zs(unsigned c)
{
    return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Letters of scripts whose blocks hold no punctuation or symbols. */
static bool letter(unsigned c)
{
    return (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x400 && c <= 0x481) ||
           (c >= 0x48A && c <= 0x4FF) || (c >= 0x3041 && c <= 0x3096) || (c >= 0x30A1 && c <= 0x30FA) ||
           (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7A3);
}

/* The class of the UTF-8 sequence s[0..n). */
static int classify(const unsigned char *s, size_t n)
{
    if (n == 0)
        return ' ';
    if (s[0] < 0x80)
        return s[0] == '\t' || s[0] == '\n' || s[0] == '\r' || s[0] == '\f' || s[0] == '\v' ? ' ' : s[0];
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (len == 0 || len > n)
        return MDR_CH_OTHER;
    unsigned c = s[0] & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++)
        c = (c << 6) | (s[i] & 0x3Fu);
    return zs(c) ? ' ' : letter(c) ? 'a' : MDR_CH_OTHER;
}

static bool ws(int c)
{
    return c == ' ';
}

/* Surely ASCII punctuation (CommonMark §2.1). */
static bool punct(int c)
{
    return c > ' ' && c < 0x7F && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c);
}

/* Maybe punctuation: ASCII punctuation or a character of unknown class. */
static bool maybe_punct(int c)
{
    return c == MDR_CH_OTHER || punct(c);
}

int mdr_char_at(const char *s, size_t n)
{
    return classify((const unsigned char *)s, n);
}

/* An escaped character ("\*") is punctuation but no delimiter: '!'. A
 * backslash escapes only ASCII punctuation ("\\\n" is a hard break). */
int mdr_char_before(const char *s, size_t n)
{
    size_t i = n;
    while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return ' ';
    i--;
    int c = classify((const unsigned char *)s + i, n - i);
    size_t slashes = 0;
    while (slashes < i && s[i - 1 - slashes] == '\\')
        slashes++;
    return slashes % 2 == 1 && punct(c) ? '!' : c;
}

unsigned mdr_delim_bit(const char *delim)
{
    return !strcmp(delim, "*") ? 1u : !strcmp(delim, "**") ? 2u : 4u;
}

/* delim opens between before and after; open: the delimiters already open
 * around it, one of which a run that can also close might end (any of
 * the same character: md4c 0.4.8 let "*" close a "**" run, which the
 * rule of 3 of CommonMark §6.2 forbids). */
bool mdr_opens(const char *delim, int before, int after, unsigned open)
{
    if (ws(after) || after == delim[0] || before == delim[0])
        return false;
    if (open & (delim[0] == '*' ? mdr_delim_bit("*") | mdr_delim_bit("**") : mdr_delim_bit("~~")))
        return delim[0] == '*' && (ws(before) || (punct(before) && !ws(after) && !maybe_punct(after)));
    return !maybe_punct(after) || ws(before) || punct(before);
}

/* delim closes between before and after (' ' for after: not known yet). */
bool mdr_closes(const char *delim, int before, int after)
{
    if (ws(before) || after == delim[0] || before == delim[0])
        return false;
    return !maybe_punct(before) || ws(after) || punct(after);
}
