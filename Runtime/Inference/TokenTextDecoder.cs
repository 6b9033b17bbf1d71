using System.Text.Unicode;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Inference;

/// <summary>A growable char buffer: the generated text not yet handed out (no allocation once it has grown).</summary>
internal sealed class CharBuffer
{
    private char[] _chars = new char[256];

    public int Length { get; private set; }

    public ReadOnlySpan<char> Span => _chars.AsSpan(0, Length);

    /// <summary>Room for <paramref name="count"/> more chars; commit them with <see cref="Advance"/>.</summary>
    public Span<char> Reserve(int count)
    {
        if (Length + count > _chars.Length) Array.Resize(ref _chars, Math.Max(_chars.Length * 2, Length + count));
        return _chars.AsSpan(Length, count);
    }

    public void Advance(int count) => Length += count;

    public void Append(ReadOnlySpan<char> text)
    {
        text.CopyTo(Reserve(text.Length));
        Length += text.Length;
    }

    /// <summary>Drops the first <paramref name="count"/> chars.</summary>
    public void RemoveStart(int count)
    {
        _chars.AsSpan(count, Length - count).CopyTo(_chars);
        Length -= count;
    }

    /// <summary>Drops <paramref name="count"/> chars from <paramref name="start"/> on.</summary>
    public void RemoveRange(int start, int count)
    {
        if (count == 0) return;
        _chars.AsSpan(start + count, Length - start - count).CopyTo(_chars.AsSpan(start));
        Length -= count;
    }

    public void Truncate(int length) => Length = length;

    public void Clear() => Length = 0;
}

/// <summary>
/// Turns generated token ids into text one token at a time, holding back the bytes of a character that a later token
/// completes. Contract: the text appended by every <see cref="Push"/> and the final <see cref="Flush"/> equals the
/// tokenizer's one-shot Decode of all the ids.
/// </summary>
internal abstract class TokenTextDecoder
{
    /// <summary>Appends the text that token <paramref name="id"/> completes (often nothing, never half a character).</summary>
    public abstract void Push(int id, CharBuffer text);

    /// <summary>Appends whatever is held back (an unfinished character becomes U+FFFD) and starts over.</summary>
    public abstract void Flush(CharBuffer text);

    /// <summary>The streaming decoder for <paramref name="tokenizer"/>: byte-level and Qwen3 tokenizers stream directly; any other re-decodes.</summary>
    public static TokenTextDecoder For(ITokenizer tokenizer, bool skipSpecialTokens) => tokenizer switch
    {
        ByteTokenizer => new Utf8Bytes(),
        Qwen3Tokenizer q => new Qwen3(q.CreateStreamingDecoder(skipSpecialTokens)),
        _ => new Redecode(tokenizer),
    };

    /// <summary>
    /// id = byte. Bytes wait in a 4-byte buffer until they form whole characters; Utf8.ToUtf16 with isFinalBlock = false
    /// converts what is complete (invalid sequences become U+FFFD by the same maximal-subpart rule as Encoding.UTF8.GetString)
    /// and leaves an unfinished trailing sequence unread. Stateless conversion, so nothing is allocated (the stateful
    /// System.Text.Decoder makes a fallback object for every invalid sequence).
    /// </summary>
    private sealed class Utf8Bytes : TokenTextDecoder
    {
        private readonly byte[] _pending = new byte[4];
        private int _count;

        public override void Push(int id, CharBuffer text)
        {
            if ((uint)id > 255) throw new ArgumentOutOfRangeException(nameof(id), id, $"Byte-level ids are 0..255; the model produced {id}.");
            _pending[_count++] = (byte)id;
            Convert(text, final: false);
        }

        public override void Flush(CharBuffer text) => Convert(text, final: true);

        private void Convert(CharBuffer text, bool final)
        {
            // At most 4 bytes in: at most 4 chars out (each byte of an invalid run is one U+FFFD; a 4-byte character is 2 chars).
            Utf8.ToUtf16(_pending.AsSpan(0, _count), text.Reserve(4), out int read, out int written, replaceInvalidSequences: true, isFinalBlock: final);
            text.Advance(written);
            _pending.AsSpan(read, _count - read).CopyTo(_pending);
            _count -= read;
        }
    }

    /// <summary>The Qwen3 tokenizer's own <see cref="StreamingDecoder"/> (one string per token).</summary>
    private sealed class Qwen3(StreamingDecoder decoder) : TokenTextDecoder
    {
        public override void Push(int id, CharBuffer text) => text.Append(decoder.Push(id));

        public override void Flush(CharBuffer text) => text.Append(decoder.Flush());
    }

    /// <summary>
    /// Any other tokenizer: decode all ids so far and append what is new, holding back a trailing U+FFFD (maybe an unfinished
    /// character). Quadratic in the generated length; fine for short outputs, give a streaming tokenizer for long ones.
    /// </summary>
    private sealed class Redecode(ITokenizer tokenizer) : TokenTextDecoder
    {
        private readonly List<int> _ids = [];
        private int _emitted;

        public override void Push(int id, CharBuffer text)
        {
            _ids.Add(id);
            string all = tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids));
            int ready = all.Length;
            while (ready > _emitted && all[ready - 1] == '\uFFFD') ready--;
            if (ready > _emitted) text.Append(all.AsSpan(_emitted, ready - _emitted));
            _emitted = Math.Max(_emitted, ready);
        }

        public override void Flush(CharBuffer text)
        {
            string all = tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids));
            if (all.Length > _emitted) text.Append(all.AsSpan(_emitted));
            _ids.Clear();
            _emitted = 0;
        }
    }
}
