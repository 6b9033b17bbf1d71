using System.Text;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Inference;

/// <summary>
/// Turns generated ids into streamed text: the one decode / stop-string path, used by <see cref="TextGeneration"/> (plain
/// text and chat replies, through <see cref="GenerationOptions"/>) and by the batched server. Three jobs, in this order per token:
/// <list type="number">
/// <item>Thinking / answer separation (optional, Qwen3 tokenizer). Qwen3 writes <c>&lt;think&gt;\n…\n&lt;/think&gt;\n\n answer</c>,
/// and &lt;think&gt; (151667) and &lt;/think&gt; (151668) are single added tokens, so the switch happens on the id, never
/// inside a text piece. The tags themselves are not shown; the newlines the format puts right after each tag and right
/// before &lt;/think&gt; are dropped (the chat template strips them the same way when it re-renders a turn).</item>
/// <item>Incremental decoding: only complete characters (a byte-level UTF-8 decoder or the tokenizer's streaming decoder);
/// with skipSpecialTokens, special tokens such as &lt;|im_end|&gt; decode to nothing, as transformers' <c>skip_special_tokens=True</c>.</item>
/// <item>Stop strings: the text is cut where the first one starts. Text that might be the beginning of a stop string is
/// held back until it is known not to be, so nothing is shown that would later be cut.</item>
/// </list>
/// Text becomes final in <see cref="Ready"/> (of kind <see cref="ReadyKind"/>); the consumer takes it with <see cref="Consume"/>
/// before the next <see cref="Push"/>. The span API allocates nothing per token once the buffer has grown (byte-level
/// tokenizer); the chunk API (<see cref="Push(int, List{ChatChunk})"/>) makes one string per chunk.
/// The pieces of one run concatenate to the tokenizer's Decode of the ids, cut before a stop string (thinking tags and
/// format newlines removed when separating thinking).
/// </summary>
public sealed class TextStream
{
    private readonly TokenTextDecoder _decoder;
    private readonly bool _separate;
    private readonly int _thinkId = -1, _thinkEndId = -1;
    private readonly string[] _stops;
    private readonly CharBuffer _text = new();   // decoded text not consumed yet; [0, _ready) is final
    private int _ready;
    private bool _segmentStart;                  // drop leading '\n' of the segment that just began
    private readonly StringBuilder _thinking = new(), _answer = new();

    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="separateThinking">Route &lt;think&gt; blocks to <see cref="ChatChunkKind.Thinking"/> (Qwen3 tokenizer only).</param>
    /// <param name="stopStrings">Strings that end the text (empty ones are ignored).</param>
    /// <param name="skipSpecialTokens">Leave special tokens out of the text (Qwen3 tokenizer).</param>
    public TextStream(ITokenizer tokenizer, bool separateThinking = false, IReadOnlyList<string>? stopStrings = null, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _decoder = TokenTextDecoder.For(tokenizer, skipSpecialTokens);
        if (separateThinking)
        {
            if (tokenizer is not Qwen3Tokenizer qwen3)
                throw new ArgumentException("Separating thinking needs the Qwen3 tokenizer (<think> and </think> are its added tokens).", nameof(separateThinking));
            _separate = true;
            _thinkId = qwen3.ThinkId;
            _thinkEndId = qwen3.ThinkEndId;
        }
        _stops = stopStrings is null ? [] : stopStrings.Where(s => !string.IsNullOrEmpty(s)).ToArray();
        SkipsSpecialTokens = skipSpecialTokens;
    }

    internal bool SkipsSpecialTokens { get; }
    internal bool SeparatesThinking => _separate;
    internal IReadOnlyList<string> StopStrings => _stops;

    /// <summary>The segment the next text belongs to.</summary>
    public ChatChunkKind Kind { get; private set; } = ChatChunkKind.Answer;

    /// <summary>The segment of <see cref="Ready"/>.</summary>
    public ChatChunkKind ReadyKind { get; private set; } = ChatChunkKind.Answer;

    /// <summary>True once a stop string was found; later tokens are ignored.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Text that is final and not consumed yet.</summary>
    public ReadOnlySpan<char> Ready => _text.Span[.._ready];

    /// <summary>Takes <see cref="Ready"/> away.</summary>
    public void Consume()
    {
        _text.RemoveStart(_ready);
        _ready = 0;
    }

    /// <summary>All thinking text handed out through the chunk API so far.</summary>
    public string Thinking => _thinking.ToString();

    /// <summary>All answer text handed out through the chunk API so far.</summary>
    public string Answer => _answer.ToString();

    /// <summary>Starts over for a new run (same tokenizer, options): held-back bytes and text are dropped.</summary>
    public void Reset()
    {
        _decoder.Flush(_text);
        _text.Clear();
        _ready = 0;
        _segmentStart = false;
        Stopped = false;
        Kind = ReadyKind = ChatChunkKind.Answer;
        _thinking.Clear();
        _answer.Clear();
    }

    /// <summary>Adds one generated id. Returns false once a stop string ended the text.</summary>
    public bool Push(int id)
    {
        if (Stopped) return false;
        if (_separate && (id == _thinkId || id == _thinkEndId))
        {
            _decoder.Flush(_text);          // bytes held before the tag belong to the old segment
            Settle(final: true);            // the old segment is over: a partial stop string is shown, format newlines dropped
            Kind = id == _thinkId ? ChatChunkKind.Thinking : ChatChunkKind.Answer;
            _segmentStart = true;
            return !Stopped;
        }
        _decoder.Push(id, _text);
        Settle(final: false);
        return !Stopped;
    }

    /// <summary>The ids are over: what is still held back becomes final (an unfinished character becomes U+FFFD; a partial stop string is shown).</summary>
    public void Finish()
    {
        if (Stopped) return;
        _decoder.Flush(_text);
        Settle(final: true);
    }

    /// <summary>Adds one generated id; appends the chunks that are now final to <paramref name="output"/>. Returns false once a stop string ended the text.</summary>
    public bool Push(int id, List<ChatChunk> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        bool more = Push(id);
        Drain(output);
        return more;
    }

    /// <summary><see cref="Finish()"/>, appending the last chunk to <paramref name="output"/>.</summary>
    public void Finish(List<ChatChunk> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Finish();
        Drain(output);
    }

    private void Drain(List<ChatChunk> output)
    {
        if (_ready == 0) return;
        string text = Ready.ToString();
        (ReadyKind == ChatChunkKind.Thinking ? _thinking : _answer).Append(text);
        output.Add(new ChatChunk(ReadyKind, text));
        Consume();
    }

    // Makes decoded text [_ready, Length) final where it can: newlines at a segment start are dropped; in thinking, trailing
    // newlines wait for more thinking (dropped when final: they are the format's before </think>); a completed stop string
    // cuts the text and stops; a possible stop-string start waits (shown when final).
    private void Settle(bool final)
    {
        int start = _ready;
        if (_separate && _segmentStart)
        {
            int newlines = 0;
            while (start + newlines < _text.Length && _text.Span[start + newlines] == '\n') newlines++;
            _text.RemoveRange(start, newlines);
            if (_text.Length > start) _segmentStart = false;
        }
        int end = _text.Length;
        if (_separate && Kind == ChatChunkKind.Thinking)
        {
            while (end > start && _text.Span[end - 1] == '\n') end--;
            if (final) _text.Truncate(end);
        }
        if (_stops.Length > 0)
        {
            var region = _text.Span[start..end];
            int cut = StopStringMatch.First(region, _stops);
            if (cut >= 0)
            {
                _text.Truncate(start + cut);
                MakeReady(start + cut);
                Stopped = true;
                return;
            }
            if (!final) end -= StopStringMatch.HeldBack(region, _stops);
        }
        MakeReady(end);
    }

    private void MakeReady(int end)
    {
        if (end <= _ready) return;
        _ready = end;
        ReadyKind = Kind;
    }
}
