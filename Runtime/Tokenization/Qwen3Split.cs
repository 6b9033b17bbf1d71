using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Qwen3Gen.Tokenization;

/// <summary>
/// Qwen2/Qwen3's split regex, matched by hand over code points:
/// <code>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</code>
/// </summary>
/// <remarks>
/// Why by hand: .NET's Regex matches UTF-16 code units, so \p{L}/\p{N} never match astral
/// letters (surrogates are category Cs) and e.g. "𝘯-seven" splits differently from Hugging Face.
/// Classes: L = Unicode categories Lu, Ll, Lt, Lm, Lo; N = Nd, Nl, No; \s = White_Space
/// (<see cref="Rune.IsWhiteSpace"/>); everything else (incl. lone surrogates, which reach the byte
/// level as U+FFFD, category So) is "other". The (?i:) folds ASCII only.
/// Each alternative is tried in order at the current position, exactly like the regex; a piece's
/// end is the end of the text passed in (added tokens cut the text, and \s+(?!\S) sees that end).
/// </remarks>
internal static class Qwen3Split
{
    internal const byte Other = 0, Letter = 1, Number = 2, Space = 3, Newline = 4;

    static readonly byte[] Ascii = BuildAscii();

    static byte[] BuildAscii()
    {
        var t = new byte[128];
        for (int c = 0; c < 128; c++)
            t[c] = c is '\r' or '\n' ? Newline
                 : c is ' ' or '\t' or '\v' or '\f' ? Space
                 : c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' ? Letter
                 : c is >= '0' and <= '9' ? Number
                 : Other;
        return t;
    }

    /// <summary>Class of the code point at <paramref name="i"/> and its length in chars (1 or 2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static byte ClassAt(ReadOnlySpan<char> s, int i, out int len)
    {
        char c = s[i];
        len = 1;
        if (c < 128) return Ascii[c];
        return NonAsciiClass(s, i, ref len);
    }

    static byte NonAsciiClass(ReadOnlySpan<char> s, int i, ref int len)
    {
        if (Rune.DecodeFromUtf16(s[i..], out Rune r, out int used) != System.Buffers.OperationStatus.Done)
            return Other;                                                  // lone surrogate: U+FFFD later
        len = used;
        if (Rune.IsWhiteSpace(r)) return Space;                            // U+0085, U+2028/9 included
        switch (Rune.GetUnicodeCategory(r))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                return Letter;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                return Number;
            default:
                return Other;
        }
    }

    /// <summary>End (exclusive) of the pre-token that starts at <paramref name="i"/> in piece <paramref name="s"/>.</summary>
    internal static int Next(ReadOnlySpan<char> s, int i)
    {
        int n = s.Length;
        char c = s[i];

        // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d), ASCII case folding only.
        if (c == '\'' && i + 1 < n)
        {
            int a = s[i + 1] | 0x20;
            if (s[i + 1] < 128)
            {
                if (a is 's' or 't' or 'm' or 'd') return i + 2;
                if (i + 2 < n && s[i + 2] < 128)
                {
                    int b = s[i + 2] | 0x20;
                    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
                }
            }
        }

        byte k = ClassAt(s, i, out int len);

        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        if (k == Letter) return LetterRunEnd(s, i + len);
        if (k != Number && k != Newline && i + len < n && ClassAt(s, i + len, out int len2) == Letter)
            return LetterRunEnd(s, i + len + len2);

        // 3. \p{N}: one code point.
        if (k == Number) return i + len;

        // 4. ' '?[^\s\p{L}\p{N}]+[\r\n]*
        int j = i;
        if (c == ' ' && i + 1 < n && ClassAt(s, i + 1, out _) == Other) j = i + 1;
        if (ClassAt(s, j, out int lj) == Other)
        {
            j += lj;
            while (j < n && ClassAt(s, j, out int l) == Other) j += l;
            while (j < n && s[j] is '\r' or '\n') j++;
            return j;
        }

        // Whitespace from here on (all White_Space code points are in the BMP).
        int e = i + 1;
        while (e < n && ClassAt(s, e, out _) is Space or Newline) e++;

        // 5. \s*[\r\n]+: up to and including the last \r or \n of the run.
        for (int p = e - 1; p >= i; p--)
            if (s[p] is '\r' or '\n') return p + 1;

        // 6. \s+(?!\S): the whole run at the end of the piece, else all but its last char.
        if (e == n) return e;
        if (e - i > 1) return e - 1;

        // 7. \s+
        return e;
    }

    static int LetterRunEnd(ReadOnlySpan<char> s, int j)
    {
        while (j < s.Length)
        {
            char c = s[j];
            if (c < 128)
            {
                if (Ascii[c] != Letter) break;
                j++;
                continue;
            }
            if (ClassAt(s, j, out int l) != Letter) break;
            j += l;
        }
        return j;
    }
}
