using System.Text;

namespace Qwen3Gen.Tokenization.Unicode;

/// <summary>
/// Unicode Normalization Form C (UAX #15), written out because .NET's own cannot be used here:
/// under InvariantGlobalization (set for this solution) <c>string.Normalize</c> leaves non-ASCII
/// text unchanged, and with ICU it throws on U+FFFE and lone surrogates. Hugging Face's Rust
/// normalizer accepts both, so this one passes lone surrogates and noncharacters through.
/// </summary>
/// <remarks>
/// NFC(s) = compose(canonical_order(decompose(s))). A code point is "safe" when it is a starter
/// (ccc 0) that NFC keeps and that never combines with what precedes it; text is cut before safe
/// code points and only the unsafe stretches (with the safe starter before them) are rebuilt, so
/// ASCII, CJK and most prose are returned as the same string instance after one scan.
/// </remarks>
internal static class Nfc
{
    const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    static readonly ulong[] Unsafe = BuildUnsafe();                  // one bit per code point
    static readonly Dictionary<int, byte> Ccc = BuildCcc();
    static readonly Dictionary<int, int[]> Decomp = BuildDecomp();
    static readonly Dictionary<long, int> Comp = BuildComp();

    public static string UnicodeVersion => NfcTables.UnicodeVersion;

    /// <summary>NFC of <paramref name="s"/>; the same instance when it is already NFC-stable.</summary>
    public static string Normalize(string s)
    {
        int first = FirstUnsafe(s);
        return first < 0 ? s : NormalizeFrom(s, first);
    }

    /// <summary>NFC of a span (allocates the result).</summary>
    public static string Normalize(ReadOnlySpan<char> s)
    {
        int first = FirstUnsafe(s);
        return first < 0 ? s.ToString() : NormalizeFrom(s, first);
    }

    /// <summary>Appends NFC(<paramref name="s"/>) to <paramref name="sb"/>.</summary>
    public static void Append(StringBuilder sb, ReadOnlySpan<char> s)
    {
        int first = FirstUnsafe(s);
        if (first < 0) { sb.Append(s); return; }
        AppendFrom(sb, s, first);
    }

    public static bool IsNormalizedFast(ReadOnlySpan<char> s) => FirstUnsafe(s) < 0;

    static string NormalizeFrom(ReadOnlySpan<char> s, int first)
    {
        var sb = new StringBuilder(s.Length + 16);
        AppendFrom(sb, s, first);
        return sb.ToString();
    }

    // Index of the first char that starts an unsafe code point, or -1.
    static int FirstUnsafe(ReadOnlySpan<char> s)
    {
        int start = s.IndexOfAnyExceptInRange('\0', '\u02FF');        // vectorised skip of the always-safe prefix
        if (start < 0) return -1;
        for (int i = start; i < s.Length; i++)
        {
            char c = s[i];
            if (c < 0x300) continue;                                    // all of Latin-1 and more is safe
            int cp = c;
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                cp = char.ConvertToUtf32(c, s[i + 1]);
            if (IsUnsafe(cp)) return i;
            if (cp > 0xFFFF) i++;
        }
        return -1;
    }

    static bool IsUnsafe(int cp) => (Unsafe[cp >> 6] & (1UL << (cp & 63))) != 0;

    static void AppendFrom(StringBuilder sb, ReadOnlySpan<char> s, int first)
    {
        var buf = new List<int>(32);
        int i = 0;
        while (true)
        {
            // Region start: the code point before the unsafe one (it may be the starter it composes with).
            int start = first;
            if (start > i)
            {
                start--;
                if (char.IsLowSurrogate(s[start]) && start > i && char.IsHighSurrogate(s[start - 1])) start--;
            }
            sb.Append(s[i..start]);
            // Region end: the next safe code point after `first`.
            int end = first;
            while (end < s.Length)
            {
                int cp = ReadCodePoint(s, end, out int len);
                if (end > first && !IsUnsafe(cp)) break;
                end += len;
            }
            NormalizeRegion(sb, s[start..end], buf);
            i = end;
            int next = FirstUnsafe(s[i..]);
            if (next < 0) { sb.Append(s[i..]); return; }
            first = i + next;
        }
    }

    static int ReadCodePoint(ReadOnlySpan<char> s, int i, out int len)
    {
        char c = s[i];
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            len = 2;
            return char.ConvertToUtf32(c, s[i + 1]);
        }
        len = 1;
        return c;                                                       // lone surrogates pass through as themselves
    }

    static int CombiningClass(int cp) => cp < 0x300 ? 0 : Ccc.TryGetValue(cp, out byte k) ? k : 0;

    static void NormalizeRegion(StringBuilder sb, ReadOnlySpan<char> region, List<int> d)
    {
        // 1. Full canonical decomposition.
        d.Clear();
        for (int i = 0; i < region.Length;)
        {
            int cp = ReadCodePoint(region, i, out int len);
            i += len;
            int sIndex = cp - SBase;
            if ((uint)sIndex < SCount)
            {
                d.Add(LBase + sIndex / NCount);
                d.Add(VBase + sIndex % NCount / TCount);
                if (sIndex % TCount != 0) d.Add(TBase + sIndex % TCount);
            }
            else if (Decomp.TryGetValue(cp, out int[]? parts)) d.AddRange(parts);
            else d.Add(cp);
        }

        // 2. Canonical ordering: stable sort of each run of non-starters by combining class.
        for (int i = 1; i < d.Count; i++)
        {
            int k = CombiningClass(d[i]);
            if (k == 0) continue;
            int cp = d[i], j = i - 1;
            while (j >= 0 && CombiningClass(d[j]) > k) { d[j + 1] = d[j]; j--; }
            d[j + 1] = cp;
        }

        // 3. Canonical composition: a mark joins the last starter unless blocked by a char in between
        // whose class is 0 or >= its own.
        int starter = -1, lastCcc = 0, count = 0;
        for (int i = 0; i < d.Count; i++)
        {
            int cp = d[i], k = CombiningClass(cp);
            if (starter >= 0)
            {
                bool adjacent = count - 1 == starter;
                if ((adjacent || lastCcc < k) && TryCompose(d[starter], cp, out int composite))
                {
                    d[starter] = composite;
                    continue;
                }
            }
            if (k == 0) starter = count;
            lastCcc = k;
            d[count++] = cp;
        }
        for (int i = 0; i < count; i++)
        {
            int cp = d[i];
            if (cp <= 0xFFFF) sb.Append((char)cp);
            else { sb.Append(char.ConvertFromUtf32(cp)); }
        }
    }

    static bool TryCompose(int a, int b, out int composite)
    {
        int lIndex = a - LBase, vIndex = b - VBase;
        if ((uint)lIndex < LCount && (uint)vIndex < VCount)
        {
            composite = SBase + (lIndex * VCount + vIndex) * TCount;
            return true;
        }
        int sIndex = a - SBase, tIndex = b - TBase;
        if ((uint)sIndex < SCount && sIndex % TCount == 0 && tIndex > 0 && tIndex < TCount)
        {
            composite = a + tIndex;
            return true;
        }
        return Comp.TryGetValue(((long)a << 21) | (uint)b, out composite);
    }

    static ulong[] BuildUnsafe()
    {
        var bits = new ulong[0x110000 / 64];
        ReadOnlySpan<int> r = NfcTables.UnsafeRanges;
        for (int i = 0; i < r.Length; i += 2)
            for (int cp = r[i]; cp <= r[i + 1]; cp++) bits[cp >> 6] |= 1UL << (cp & 63);
        return bits;
    }

    static Dictionary<int, byte> BuildCcc()
    {
        ReadOnlySpan<int> t = NfcTables.CombiningClasses;
        var map = new Dictionary<int, byte>(t.Length / 2);
        for (int i = 0; i < t.Length; i += 2) map[t[i]] = (byte)t[i + 1];
        return map;
    }

    static Dictionary<int, int[]> BuildDecomp()
    {
        ReadOnlySpan<int> t = NfcTables.Decompositions;
        var map = new Dictionary<int, int[]>(2100);
        for (int i = 0; i < t.Length;)
        {
            int cp = t[i], n = t[i + 1];
            map[cp] = t.Slice(i + 2, n).ToArray();
            i += 2 + n;
        }
        return map;
    }

    static Dictionary<long, int> BuildComp()
    {
        ReadOnlySpan<int> t = NfcTables.Compositions;
        var map = new Dictionary<long, int>(t.Length / 3);
        for (int i = 0; i < t.Length; i += 3) map[((long)t[i] << 21) | (uint)t[i + 1]] = t[i + 2];
        return map;
    }
}
