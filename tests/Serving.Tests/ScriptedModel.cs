using Qwen3Gen.Kernels;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Serving.Tests;

/// <summary>
/// A stand-in model whose greedy reply is a script: after the last "&lt;|im_start|&gt;assistant\n" (and an empty think
/// block) it puts all the probability on the next token of <c>reply(history text)</c>, then on &lt;|im_end|&gt;.
/// A random tiny model never writes a well-formed &lt;tool_call&gt;; this one does, so the tool-call plumbing
/// (parsing, streaming, the function-invocation loop) is tested on exactly the text a Qwen3 model writes. Its
/// single and batched sessions follow the same script, so it serves ChatEngine and BatchEngine alike.
/// </summary>
public sealed class ScriptedModel : IQwen3Model
{
    private readonly Qwen3Tokenizer _tokenizer;
    private readonly Func<string, string> _reply;
    private readonly int[] _header, _emptyThink;

    /// <param name="reply">The reply to the conversation so far (the rendered prompt text), without &lt;|im_end|&gt;.</param>
    public ScriptedModel(Qwen3Tokenizer tokenizer, Func<string, string> reply)
    {
        _tokenizer = tokenizer;
        _reply = reply;
        _header = tokenizer.Encode("<|im_start|>assistant\n");
        _emptyThink = tokenizer.Encode("<think>\n\n</think>\n\n");
        Config = Qwen3ServeTest.HyperParameters;
    }

    public string Name => "Scripted";
    public ModelConfig Config { get; }
    public IReadOnlyList<TensorSpec> Tensors => [];
    public Weights Weights => throw new NotSupportedException();
    public NativeBuffer<float> Gradients => throw new NotSupportedException();
    public ReadOnlySpan<float> Logits => default;
    public float[] DebugTensor(string name) => throw new NotSupportedException();
    public void Reserve(int batch, int seqLen, bool training) => throw new NotSupportedException();
    public float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batch, int seqLen) => throw new NotSupportedException();
    public void Backward() => throw new NotSupportedException();
    public void ZeroGradients() => throw new NotSupportedException();
    public IBackwardHook? BackwardHook { get => null; set => throw new NotSupportedException(); }
    public bool GradientCheckpointing { get => false; set => throw new NotSupportedException(); }
    public IMatrixAdapters? Adapters { get => null; set => throw new NotSupportedException(); }
    public void Dispose() { }

    public RopeScaling RopeScaling { get => RopeScaling.None; set => throw new NotSupportedException(); }
    public int PositionLimit => Config.PositionLimit;

    public IInferenceSession CreateSession(int capacity, int chunk = 128, KvCacheFormat cacheFormat = KvCacheFormat.F32) => new Single(this, capacity);

    public IBatchSession CreateBatchSession(int sequences, int capacity, int chunk = 64) => new Batch(this, sequences, capacity, chunk);

    /// <summary>The next token the script wants after <paramref name="history"/>.</summary>
    private int Next(List<int> history)
    {
        int start = -1;
        for (int i = history.Count - _header.Length; i >= 0; i--)
            if (history.Skip(i).Take(_header.Length).SequenceEqual(_header)) { start = i + _header.Length; break; }
        if (start < 0) return _tokenizer.ImEndId;
        var generated = history.Skip(start).ToList();
        if (generated.Take(_emptyThink.Length).SequenceEqual(_emptyThink)) generated = generated.Skip(_emptyThink.Length).ToList();
        var script = _tokenizer.Encode(_reply(_tokenizer.Decode(history.Take(start).ToArray())));
        return generated.Count < script.Length ? script[generated.Count] : _tokenizer.ImEndId;
    }

    private void Fill(float[] logits, List<int> history)
    {
        Array.Clear(logits);
        logits[Next(history)] = 10f;
    }

    private sealed class Single(ScriptedModel m, int capacity) : IInferenceSession
    {
        private readonly List<int> _history = [];
        private readonly float[] _logits = new float[m.Config.Vocab];
        public int Capacity => capacity;
        public int Position => _history.Count;

        public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens)
        {
            _history.AddRange(tokens.ToArray());
            m.Fill(_logits, _history);
            return _logits;
        }

        public ReadOnlySpan<float> Decode(int token) => Prefill(new[] { token });
        public void Rewind(int position) => _history.RemoveRange(position, _history.Count - position);
        public void Dispose() { }
    }

    private sealed class Batch(ScriptedModel m, int sequences, int capacity, int chunk) : IBatchSession
    {
        private readonly List<int>[] _history = Enumerable.Range(0, sequences).Select(_ => new List<int>()).ToArray();
        private readonly float[] _logits = new float[sequences * m.Config.Vocab];
        private readonly float[] _row = new float[m.Config.Vocab];
        public int Sequences => sequences;
        public int Capacity => capacity;
        public int Chunk => chunk;
        public int Position(int sequence) => _history[sequence].Count;

        public ReadOnlySpan<float> Prefill(int sequence, ReadOnlySpan<int> tokens)
        {
            _history[sequence].AddRange(tokens.ToArray());
            m.Fill(_row, _history[sequence]);
            return _row;
        }

        public ReadOnlySpan<float> Decode(ReadOnlySpan<int> slots, ReadOnlySpan<int> tokens)
        {
            int vocab = m.Config.Vocab;
            for (int i = 0; i < slots.Length; i++)
            {
                _history[slots[i]].Add(tokens[i]);
                m.Fill(_row, _history[slots[i]]);
                _row.CopyTo(_logits, i * vocab);
            }
            return _logits.AsSpan(0, slots.Length * vocab);
        }

        public void Rewind(int sequence, int position) => _history[sequence].RemoveRange(position, _history[sequence].Count - position);
        public void Dispose() { }
    }
}
