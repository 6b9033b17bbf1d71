using System.Text;

namespace Qwen3Gen.Tokenization;

/// <summary>
/// Incremental decoding for streamed generation: <see cref="Push"/> returns only complete
/// characters; the bytes of a character split across tokens are held back until it is complete.
/// The concatenation of every <see cref="Push"/> and the final <see cref="Flush"/> equals
/// <see cref="Qwen3Tokenizer.Decode(ReadOnlySpan{int}, bool)"/> of all the ids.
/// </summary>
public sealed class StreamingDecoder
{
    readonly Qwen3Tokenizer _tokenizer;
    readonly bool _skipSpecial;
    byte[] _pending = new byte[16];
    int _count;

    internal StreamingDecoder(Qwen3Tokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecial = skipSpecialTokens;
    }

    /// <summary>Adds one token; returns the text that is now complete (often "", never half a character).</summary>
    public string Push(int id)
    {
        var bytes = _tokenizer.TokenBytesOrEmpty(id, _skipSpecial);
        if (_count + bytes.Length > _pending.Length) Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _count + bytes.Length));
        bytes.CopyTo(_pending.AsSpan(_count));
        _count += bytes.Length;

        int keep = IncompleteTail(_pending.AsSpan(0, _count));
        int ready = _count - keep;
        if (ready == 0) return "";
        string text = Encoding.UTF8.GetString(_pending, 0, ready);
        _pending.AsSpan(ready, keep).CopyTo(_pending);
        _count = keep;
        return text;
    }

    /// <summary>Emits whatever is held back (an unfinished character becomes U+FFFD) and resets.</summary>
    public string Flush()
    {
        string text = Encoding.UTF8.GetString(_pending, 0, _count);
        _count = 0;
        return text;
    }

    // Length of a trailing UTF-8 sequence that is valid so far but incomplete (0..3 bytes). Anything
    // that can no longer become valid is decoded now (as U+FFFD), exactly as a one-shot decode would.
    static int IncompleteTail(ReadOnlySpan<byte> b)
    {
        int n = b.Length;
        for (int k = 1; k <= 3 && k <= n; k++)
        {
            byte lead = b[n - k];
            if ((lead & 0xC0) == 0x80) continue;                 // continuation byte: look further back
            int need = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xC2 && lead <= 0xDF ? 2 : 0;
            if (need <= k) return 0;                              // ASCII, invalid lead, or already complete
            if (k >= 2)
            {
                byte second = b[n - k + 1];                      // the ranges that keep the sequence well-formed
                bool ok = lead switch
                {
                    0xE0 => second >= 0xA0,
                    0xED => second <= 0x9F,
                    0xF0 => second >= 0x90,
                    0xF4 => second <= 0x8F,
                    _ => true,
                };
                if (!ok) return 0;
            }
            return k;
        }
        return 0;
    }
}
