using Microsoft.ML.Tokenizers;

namespace Qwen3Gen.Tokenization;

/// <summary>
/// Microsoft.ML.Tokenizers pre-tokenizer for Qwen3: added-token spans first (the tokenizer looks
/// them up in its special-token table), then <see cref="Qwen3Split"/> on each piece between them.
/// </summary>
internal sealed class Qwen3PreTokenizer : PreTokenizer
{
    readonly AddedTokens _added;

    public Qwen3PreTokenizer(AddedTokens added) => _added = added;

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
    {
        if (string.IsNullOrEmpty(text)) yield break;
        int pos = 0;
        while (pos < text.Length)
        {
            int at = _added.Find(text, pos, out int tokenLength, out _);
            int pieceEnd = at < 0 ? text.Length : at;
            int i = pos;
            while (i < pieceEnd)
            {
                int end = Qwen3Split.Next(text.AsSpan(pos, pieceEnd - pos), i - pos) + pos;
                yield return (i, end - i);
                i = end;
            }
            if (at < 0) yield break;
            yield return (at, tokenLength);
            pos = at + tokenLength;
        }
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text)
    {
        var spans = new List<(int, int)>();
        Split(text, _added, spans);
        return spans;
    }

    /// <summary>All pre-token spans of <paramref name="text"/> (added tokens included) into <paramref name="spans"/>.</summary>
    internal static void Split(ReadOnlySpan<char> text, AddedTokens added, List<(int Offset, int Length)> spans)
    {
        int pos = 0;
        while (pos < text.Length)
        {
            int at = added.Find(text, pos, out int tokenLength, out _);
            int pieceEnd = at < 0 ? text.Length : at;
            var piece = text[pos..pieceEnd];
            for (int i = 0; i < piece.Length;)
            {
                int end = Qwen3Split.Next(piece, i);
                spans.Add((pos + i, end - i));
                i = end;
            }
            if (at < 0) return;
            spans.Add((at, tokenLength));
            pos = at + tokenLength;
        }
    }
}
