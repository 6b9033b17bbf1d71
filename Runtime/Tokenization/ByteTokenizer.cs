using System.Text;

namespace Qwen3Gen.Tokenization;

/// <summary>
/// The 256-symbol tokenizer of the small Shakespeare models: id = byte value of the UTF-8 text.
/// Decoding turns invalid UTF-8 into U+FFFD. No end-of-sequence id.
/// </summary>
public sealed class ByteTokenizer : ITokenizer
{
    public static ByteTokenizer Instance { get; } = new();

    public int VocabSize => 256;

    public IReadOnlyList<int> EosIds => [];

    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var ids = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) ids[i] = bytes[i];
        return ids;
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = ids.Length <= 1024 ? stackalloc byte[ids.Length] : new byte[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] > 255)
                throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"ByteTokenizer ids are bytes 0..255; id at index {i} is {ids[i]}.");
            bytes[i] = (byte)ids[i];
        }
        return Encoding.UTF8.GetString(bytes);
    }
}
