using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Emitting;

/// <summary>KV-cached decoding: a session owns inference work buffers and the cache of every layer.</summary>
internal static class SessionEmitter
{
    public static void Write(SourceWriter w, ModelSpec spec)
    {
        var c = spec.ClassName;
        w.Block($$"""
            public IInferenceSession CreateSession(int capacity, int chunk = 128)
            {
                if (capacity <= 0 || capacity > PositionLimit)
                    throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"The context length must be in 1..{PositionLimit} (max_position_embeddings, RoPE scaling {_ropeScaling}).");
                if (chunk <= 0) throw new ArgumentOutOfRangeException(nameof(chunk), chunk, "The prefill chunk must be positive.");
                return new Session(this, capacity, Math.Min(chunk, capacity));
            }

            /// <summary>
            /// Decoding with a KV cache: each call runs only the new tokens through the layers, attending to the cached
            /// keys and values of every earlier position. Same math as a full recompute (tested), positions past .. past + n − 1.
            /// </summary>
            private sealed class Session : IInferenceSession
            {
                private readonly {{c}} _model;
                private readonly State _state;

                public Session({{c}} model, int capacity, int chunk)
                {
                    _model = model;
                    _state = new State(maxBatch: 1, maxSeqLen: chunk, training: false, rope: model._ropeScaling, capacity: capacity, logitRows: 1);
                    Capacity = capacity;
                }

                public int Capacity { get; }
                public int Position { get; private set; }

                public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens)
                {
                    if (tokens.Length == 0) throw new ArgumentException("The prompt is empty: give at least one token.", nameof(tokens));
                    if (Position + tokens.Length > Capacity)
                        throw new InvalidOperationException($"The context is full: {Position} cached + {tokens.Length} new tokens exceed the session's {Capacity} positions.");
                    for (int i = 0; i < tokens.Length; i++)
                        if ((uint)tokens[i] >= Vocab)
                            throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i], $"Token id {tokens[i]} at position {i} is outside the vocabulary [0, {Vocab}).");
                    var s = _state;
                    for (int start = 0; start < tokens.Length; start += s.MaxSeqLen)
                    {
                        int n = Math.Min(s.MaxSeqLen, tokens.Length - start);
                        tokens.Slice(start, n).CopyTo(new Span<int>(s.Tokens, n));
                        s.Batch = 1;
                        s.SeqLen = n;
                        s.HasTargets = false;
                        if (_model._weights.Format == WeightFormat.BF16) _model.ForwardPass<BF16>(s, Position, lastOnly: true);
                        else _model.ForwardPass<float>(s, Position, lastOnly: true);
                        Position += n;
                    }
                    return new ReadOnlySpan<float>(s.Logits, Vocab);
                }

                private readonly int[] _one = new int[1];

                public ReadOnlySpan<float> Decode(int token)
                {
                    _one[0] = token;
                    return Prefill(_one);
                }

                public void Rewind(int position)
                {
                    if (position < 0 || position > Position)
                        throw new ArgumentOutOfRangeException(nameof(position), position, $"Can rewind only to 0..{Position}.");
                    Position = position;
                }

                public void Dispose() => _state.Dispose();
            }

            """);
    }
}
