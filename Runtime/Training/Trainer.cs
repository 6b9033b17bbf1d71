using System.Diagnostics;
using System.Numerics.Tensors;
using Qwen3Gen.Optim;

namespace Qwen3Gen.Training;

/// <summary>The outcome of one optimizer step.</summary>
public readonly record struct StepResult(long Step, float Loss, double LearningRate, double GradientNorm, int Tokens, double Milliseconds);

/// <summary>
/// Trains a generated model on a token stream: seeded random windows, forward + generated backward,
/// gradient accumulation, global-norm clipping, AdamW with warmup + cosine decay. Everything the next step
/// depends on (weights, AdamW moments and step, sampler state) is in the checkpoint, so a resumed run
/// continues bit-identically.
/// </summary>
public sealed unsafe class Trainer : IDisposable
{
    private readonly IQwen3Model _model;
    private readonly TextDataset _data;
    private readonly WindowSampler _sampler;
    private readonly AdamW _optimizer;
    private readonly LearningRateSchedule _schedule;
    private readonly int[] _inputs, _targets;

    public Trainer(IQwen3Model model, TextDataset data, TrainingOptions options)
    {
        options.Validate();
        if (model.Weights.Format != WeightFormat.F32) throw new ArgumentException("Training needs F32 weights.", nameof(model));
        if (data.VocabularyNeeded > model.Config.Vocab)
            throw new ArgumentException($"The data has token ids up to {data.VocabularyNeeded - 1}, beyond the model's vocabulary of {model.Config.Vocab}.", nameof(data));
        _model = model;
        _data = data;
        Options = options;
        _sampler = new WindowSampler(data.Train, options.Batch, options.Context, options.Seed);
        _optimizer = new AdamW(model.Tensors, new AdamWOptions
        {
            LearningRate = options.LearningRate, Beta1 = options.Beta1, Beta2 = options.Beta2,
            Epsilon = options.Epsilon, WeightDecay = options.WeightDecay,
        });
        _schedule = new LearningRateSchedule(options.LearningRate, options.MinLearningRate, options.WarmupSteps,
            options.DecaySteps > 0 ? options.DecaySteps : options.Steps);
        _inputs = new int[options.Batch * options.Context];
        _targets = new int[options.Batch * options.Context];
        model.Reserve(options.Batch, options.Context, training: true);
    }

    public TrainingOptions Options { get; }

    public IQwen3Model Model => _model;

    /// <summary>Tokenizer files and generation_config.json written into every checkpoint (null: weights, config and state only).</summary>
    public ModelFiles? Files { get; set; }

    /// <summary>Optimizer steps completed.</summary>
    public long Step => _optimizer.StepCount;

    /// <summary>One optimizer step over GradientAccumulation micro-batches; returns the mean micro-batch loss.</summary>
    public StepResult TrainStep()
    {
        var clock = Stopwatch.StartNew();
        int accumulation = Options.GradientAccumulation;
        _model.ZeroGradients();
        double lossSum = 0;
        for (int micro = 0; micro < accumulation; micro++)
        {
            _sampler.Next(_inputs, _targets);
            lossSum += _model.Forward(_inputs, _targets, Options.Batch, Options.Context);
            _model.Backward();
        }
        var gradients = _model.Gradients;
        if (accumulation > 1) Scale(gradients, 1f / accumulation);               // mean over micro-batches = the big batch's mean
        double norm = Options.GradientClip > 0
            ? GradientClipping.ClipGlobalNorm(gradients, Options.GradientClip)
            : GradientClipping.GlobalNorm(gradients);
        double lr = _schedule.At(_optimizer.StepCount);
        _optimizer.LearningRate = lr;
        _optimizer.Step(_model.Weights.Data, gradients);
        return new StepResult(Step, (float)(lossSum / accumulation), lr, norm, Options.Batch * Options.Context * accumulation, clock.Elapsed.TotalMilliseconds);
    }

    /// <summary>Mean cross-entropy over every target of the validation split (consecutive windows, token-weighted).</summary>
    public float EvaluateValidation() => Evaluate(_data.Validation);

    /// <summary>Mean cross-entropy over every target of <paramref name="tokens"/>.</summary>
    public float Evaluate(ReadOnlyMemory<int> tokens)
    {
        var windows = new SequentialWindows(tokens, Options.Batch, Options.Context);
        double sum = 0;
        long count = 0;
        for (int i = 0; i < windows.Batches; i++)
        {
            int real = windows.Fill(i, _inputs, _targets);
            if (real == 0) continue;
            sum += (double)_model.Forward(_inputs, _targets, Options.Batch, Options.Context) * real;
            count += real;
        }
        return (float)(sum / count);
    }

    private static void Scale(NativeBuffer<float> buffer, float factor)
    {
        for (long start = 0; start < buffer.Length; start += int.MaxValue / 2)
        {
            var span = buffer.Slice(start, (int)Math.Min(int.MaxValue / 2, buffer.Length - start));
            TensorPrimitives.Multiply(span, factor, span);
        }
    }

    /// <summary>Saves weights, optimizer and sampler state (see <see cref="TrainingCheckpoint"/>).</summary>
    public void Save(string directory) => TrainingCheckpoint.Save(directory, _model, _optimizer, _sampler, Options, Files);

    /// <summary>Restores a checkpoint written by <see cref="Save"/> for this model and these options.</summary>
    public void Load(string directory) => TrainingCheckpoint.Load(directory, _model, _optimizer, _sampler, Options);

    public void Dispose() => _optimizer.Dispose();
}
