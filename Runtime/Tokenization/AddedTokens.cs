namespace Qwen3Gen.Tokenization;

/// <summary>
/// The added tokens (<c>&lt;|im_end|&gt;</c>, <c>&lt;think&gt;</c>, ...), matched as whole strings
/// anywhere in the raw text before anything else runs, case-sensitively and leftmost-first
/// (longest first at one position), as Hugging Face does for added tokens with
/// normalized=false and no lstrip/rstrip/single_word.
/// </summary>
internal sealed class AddedTokens
{
    readonly string[] _contents;          // sorted longest first so a longer token wins at one position
    readonly int[] _ids;
    readonly string _firstChars;          // distinct first characters, for a vectorised IndexOfAny

    public AddedTokens(IReadOnlyList<(string Content, int Id)> tokens)
    {
        var sorted = tokens.Where(t => t.Content.Length > 0).OrderByDescending(t => t.Content.Length).ThenBy(t => t.Id).ToArray();
        _contents = sorted.Select(t => t.Content).ToArray();
        _ids = sorted.Select(t => t.Id).ToArray();
        _firstChars = new string(_contents.Select(c => c[0]).Distinct().ToArray());
    }

    public int Count => _contents.Length;

    /// <summary>Index of the first added token in <paramref name="s"/> at or after <paramref name="from"/>, or -1.</summary>
    public int Find(ReadOnlySpan<char> s, int from, out int length, out int id)
    {
        length = 0; id = -1;
        if (_contents.Length == 0) return -1;
        int i = from;
        while (i < s.Length)
        {
            int k = _firstChars.Length == 1 ? s[i..].IndexOf(_firstChars[0]) : s[i..].IndexOfAny(_firstChars);
            if (k < 0) return -1;
            i += k;
            var rest = s[i..];
            for (int t = 0; t < _contents.Length; t++)
                if (rest.StartsWith(_contents[t], StringComparison.Ordinal))
                {
                    length = _contents[t].Length;
                    id = _ids[t];
                    return i;
                }
            i++;
        }
        return -1;
    }
}
