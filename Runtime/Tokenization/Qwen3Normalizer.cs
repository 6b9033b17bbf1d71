using System.Text;
using Microsoft.ML.Tokenizers;
using Qwen3Gen.Tokenization.Unicode;

namespace Qwen3Gen.Tokenization;

/// <summary>
/// Microsoft.ML.Tokenizers normalizer for Qwen3: NFC on each piece *between* added tokens.
/// </summary>
/// <remarks>
/// Hugging Face finds the added tokens (normalized=false) before normalizing, so "&lt;think&gt;\u0338"
/// keeps its token, whereas NFC of the whole string would compose "&gt;" + U+0338 into "≯".
/// Splitting first is safe for Qwen's token set: the only code points whose NFC contains ASCII are
/// U+037E (;), U+1FEF (`) and U+212A (K), none of which occurs in an added token, so NFC of a piece
/// can never create a new added-token match.
/// </remarks>
internal sealed class Qwen3Normalizer : Normalizer
{
    readonly AddedTokens _added;

    public Qwen3Normalizer(AddedTokens added) => _added = added;

    public override string Normalize(string original)
    {
        if (string.IsNullOrEmpty(original) || Nfc.IsNormalizedFast(original)) return original ?? "";
        return NormalizeSlow(original);
    }

    public override string Normalize(ReadOnlySpan<char> original)
        => Nfc.IsNormalizedFast(original) ? original.ToString() : NormalizeSlow(original);

    string NormalizeSlow(ReadOnlySpan<char> text)
    {
        var sb = new StringBuilder(text.Length + 16);
        int pos = 0;
        while (pos < text.Length)
        {
            int at = _added.Find(text, pos, out int length, out _);
            int pieceEnd = at < 0 ? text.Length : at;
            Nfc.Append(sb, text[pos..pieceEnd]);
            if (at < 0) break;
            sb.Append(text.Slice(at, length));
            pos = at + length;
        }
        return sb.ToString();
    }
}
