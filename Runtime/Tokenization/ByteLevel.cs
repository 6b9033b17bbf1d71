namespace Qwen3Gen.Tokenization;

/// <summary>
/// GPT-2's byte-level alphabet: each byte is shown as a printable character so vocab.json and
/// merges.txt can hold arbitrary bytes. Bytes 33..126, 161..172 and 174..255 stand for themselves;
/// the other 68 bytes, in order, map to U+0100, U+0101, ...
/// </summary>
internal static class ByteLevel
{
    public static readonly char[] ByteToChar = BuildByteToChar();
    static readonly short[] CharToByteTable = BuildCharToByte();

    static char[] BuildByteToChar()
    {
        var map = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255;
            map[b] = printable ? (char)b : (char)(256 + extra++);
        }
        return map;
    }

    static short[] BuildCharToByte()
    {
        var t = new short[324];
        Array.Fill(t, (short)-1);
        for (int b = 0; b < 256; b++) t[ByteToChar[b]] = (short)b;
        return t;
    }

    /// <summary>The bytes a vocab.json token string stands for; throws if it is not byte-level text.</summary>
    public static byte[] TokenBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            char c = token[i];
            int b = c < CharToByteTable.Length ? CharToByteTable[c] : -1;
            if (b < 0)
                throw new InvalidDataException(
                    $"Token '{token}' contains U+{(int)c:X4}, which is not in the byte-level alphabet: not a byte-level BPE vocabulary.");
            bytes[i] = (byte)b;
        }
        return bytes;
    }
}
