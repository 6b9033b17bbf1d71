using System.Text;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Inference;

/// <summary>
/// Turns generated ids into streamed text. Three jobs, in this order per token:
/// <list type="number">
/// <item>Thinking / answer separation. Qwen3 writes <c>&lt;think&gt;\n…\n&lt;/think&gt;\n\n answer</c>, and
/// &lt;think&gt; (151667) and &lt;/think&gt; (151668) are single added tokens, so the switch happens on the id, never
/// inside a text piece. The tags themselves are not shown; the newlines the format puts right after each tag and
/// right before &lt;/think&gt; are dropped (the chat template strips them the same way when it re-renders a turn).</item>
/// <item>Incremental decoding: only complete characters (<see cref="StreamingDecoder"/>); special tokens such as
/// &lt;|im_end|&gt; decode to nothing, as transformers' <c>skip_special_tokens=True</c>.</item>
/// <item>Stop strings: the text is cut where the first one starts. Text that might be the beginning of a stop
/// string is held back until it is known not to be, so nothing is shown that would later be cut.</item>
/// </list>
/// With <c>separateThinking: false</c> the tags are ordinary text and nothing is trimmed (raw completion).
/// </summary>
public sealed class ChatTextStream
{
    private readonly StreamingDecoder _decoder;
    private readonly bool _separate;
    private readonly int _thinkId, _thinkEndId;
    private readonly string[] _stops;
    private readonly StringBuilder _pending = new();   // text not yet emitted: a possible stop-string prefix
    private readonly StringBuilder _thinking = new(), _answer = new();
    private int _heldNewlines;                          // trailing '\n' of thinking, shown only if more thinking follows
    private bool _segmentStart;                         // drop leading '\n' of the segment that just began

    public ChatTextStream(Qwen3Tokenizer tokenizer, bool separateThinking = true, IReadOnlyList<string>? stopStrings = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _decoder = tokenizer.CreateStreamingDecoder(skipSpecialTokens: true);
        _separate = separateThinking;
        _thinkId = tokenizer.ThinkId;
        _thinkEndId = tokenizer.ThinkEndId;
        _stops = stopStrings is null ? [] : stopStrings.Where(s => !string.IsNullOrEmpty(s)).ToArray();
        Kind = ChatChunkKind.Answer;
    }

    /// <summary>The segment the next text belongs to.</summary>
    public ChatChunkKind Kind { get; private set; }

    /// <summary>True once a stop string was found; later tokens are ignored.</summary>
    public bool Stopped { get; private set; }

    /// <summary>All thinking text emitted so far.</summary>
    public string Thinking => _thinking.ToString();

    /// <summary>All answer text emitted so far.</summary>
    public string Answer => _answer.ToString();

    /// <summary>Adds one generated id; appends the chunks that are now final to <paramref name="output"/>. Returns false once a stop string ended the text.</summary>
    public bool Push(int id, List<ChatChunk> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (Stopped) return false;
        if (_separate && (id == _thinkId || id == _thinkEndId))
        {
            Emit(_decoder.Flush(), output);       // bytes held before the tag belong to the old segment
            FlushPending(output);
            _heldNewlines = 0;                    // "\n</think>": the newline before the tag is format, not content
            Kind = id == _thinkId ? ChatChunkKind.Thinking : ChatChunkKind.Answer;
            _segmentStart = true;
            return !Stopped;
        }
        Emit(_decoder.Push(id), output);
        return !Stopped;
    }

    /// <summary>Emits what is still held back (an unfinished character becomes U+FFFD; a partial stop string is shown).</summary>
    public void Finish(List<ChatChunk> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (Stopped) return;
        Emit(_decoder.Flush(), output);
        FlushPending(output);
    }

    private void Emit(string text, List<ChatChunk> output)
    {
        if (Stopped || text.Length == 0) return;
        if (_separate)
        {
            if (_segmentStart)
            {
                text = text.TrimStart('\n');
                if (text.Length == 0) return;
                _segmentStart = false;
            }
            if (Kind == ChatChunkKind.Thinking)
            {
                int trailing = text.Length - text.TrimEnd('\n').Length;
                if (trailing == text.Length)
                {
                    _heldNewlines += trailing;
                    return;
                }
                if (_heldNewlines > 0) text = new string('\n', _heldNewlines) + text;
                _heldNewlines = trailing;
                text = text[..^trailing];
            }
        }
        if (_stops.Length == 0)
        {
            Add(text, output);
            return;
        }

        _pending.Append(text);
        string pending = _pending.ToString();
        int cut = StopStringMatch.First(pending, _stops);
        if (cut >= 0)
        {
            Add(pending[..cut], output);
            _pending.Clear();
            Stopped = true;
            return;
        }
        int keep = StopStringMatch.HeldBack(pending, _stops);
        Add(pending[..^keep], output);
        _pending.Remove(0, pending.Length - keep);
    }

    private void FlushPending(List<ChatChunk> output)
    {
        if (_pending.Length == 0) return;
        Add(_pending.ToString(), output);
        _pending.Clear();
    }

    private void Add(string text, List<ChatChunk> output)
    {
        if (text.Length == 0) return;
        (Kind == ChatChunkKind.Thinking ? _thinking : _answer).Append(text);
        output.Add(new ChatChunk(Kind, text));
    }
}
