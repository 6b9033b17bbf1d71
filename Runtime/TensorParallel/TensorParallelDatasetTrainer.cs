using System.Diagnostics;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Distributed;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;
using Qwen3Gen.Optim;
using Qwen3Gen.Training;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// <see cref="Trainer"/>'s job for a tensor-parallel dense model, tensor × data parallel (<see cref="ParallelGroups"/>): the
/// same seeded sampler on every rank, the same learning-rate schedule, clipping and AdamW (<see cref="TensorParallelTrainer"/>,
/// on the rank's slice), the same validation loss and checkpoint. A step's global batch is D × GradientAccumulation
/// micro-batches drawn in order from the one sampler; data group d takes micro-batches d·A … d·A + A − 1 and skips the
/// others' draws, as data-parallel rank d does in <see cref="Trainer"/>, and the T ranks of a tensor group run the same ones.
/// <para>
/// Checkpoints are the one-process format (<see cref="TrainingCheckpoint"/>): model.safetensors holds the whole tensors under
/// their Hugging Face names, trainer.safetensors AdamW's whole m and v in the definition's flat layout, both gathered to
/// world rank 0 tensor by tensor while it writes (<see cref="SliceGatherer"/>). AdamW is elementwise, so the moments are
/// the same numbers however the model is split: a checkpoint resumes with its moments on any T and P, or in one process.
/// Every rank reads its own slice back (<see cref="TensorSlices"/>), so every rank must see the run folder.
/// </para>
/// </summary>
public sealed unsafe class TensorParallelDatasetTrainer : IStepTrainer
{
    private readonly ICommunicator _world;
    private readonly ParallelGroups _groups;
    private readonly ITensorParallelTraining _model;
    private readonly ModelDefinition _definition;
    private readonly IReadOnlyList<TensorSpec> _layout;                 // the one-process flat layout: the moments' order in a checkpoint
    private readonly TensorParallelTrainer _trainer;
    private readonly TextDataset? _text;
    private readonly ConversationDataset? _conversations;
    private readonly IBatchSampler _sampler;
    private readonly LearningRateSchedule _schedule;
    private readonly int[] _inputs, _targets;

    /// <summary>Trains on random windows of a text (every next token is a target).</summary>
    /// <param name="model">This rank's slice, over <paramref name="groups"/>.Tensor; the caller keeps and disposes it and the groups.</param>
    public TensorParallelDatasetTrainer(ICommunicator world, ParallelGroups groups, ITensorParallelTraining model, ModelDefinition definition,
                                        TextDataset data, TrainingOptions options)
        : this(world, groups, model, definition, options, data.VocabularyNeeded, new WindowSampler(data.Train, options.Batch, options.Context, options.Seed))
    {
        _text = data;
    }

    /// <summary>Trains on whole conversations, one per batch row, with the loss on the assistant's tokens only.</summary>
    public TensorParallelDatasetTrainer(ICommunicator world, ParallelGroups groups, ITensorParallelTraining model, ModelDefinition definition,
                                        ConversationDataset data, TrainingOptions options)
        : this(world, groups, model, definition, options, data.VocabularyNeeded, new ConversationSampler(data.Train, options.Batch, options.Context, options.Seed))
    {
        _conversations = data;
    }

    private TensorParallelDatasetTrainer(ICommunicator world, ParallelGroups groups, ITensorParallelTraining model, ModelDefinition definition,
                                         TrainingOptions options, int vocabularyNeeded, IBatchSampler sampler)
    {
        options.Validate();
        if (vocabularyNeeded > definition.Config.Vocab)
            throw new ArgumentException($"The data has token ids up to {vocabularyNeeded - 1}, beyond the model's vocabulary of {definition.Config.Vocab}.", nameof(definition));
        var table = definition.TensorTable ?? throw new ArgumentException($"Definition {definition.Name} carries no tensor table (regenerate it with this Qwen3Gen).", nameof(definition));
        _layout = table.OrderBy(t => t.Offset).ToArray();
        if (_layout.Sum(t => t.Length) != definition.ParameterCount || _layout.Select(t => t.Name).Except(model.Split.Tensors.Select(t => t.Name)).Any())
            throw new ArgumentException($"The tensor table of {definition.Name} does not match the tensor-parallel split of its model.", nameof(definition));
        _world = world;
        _groups = groups;
        _model = model;
        _definition = definition;
        Options = options;
        _sampler = sampler;
        _trainer = new TensorParallelTrainer(model, options.AdamW(), groups.Data, options.GradientClip);
        _schedule = options.Schedule();
        _inputs = new int[options.Batch * options.Context];
        _targets = new int[options.Batch * options.Context];
    }

    public TrainingOptions Options { get; }

    public ModelFiles? Files { get; set; }

    public long Step => _trainer.Optimizer.StepCount;

    /// <summary>AdamW over the rank's slice (its moments in the rank's flat layout).</summary>
    public AdamW Optimizer => _trainer.Optimizer;

    public StepResult TrainStep()
    {
        var clock = Stopwatch.StartNew();
        int accumulation = Options.GradientAccumulation, groups = _groups.Data.Size, group = _groups.Data.Rank;
        var waitedBefore = _model.CommunicationTime;
        double lossSum = 0;
        _sampler.Skip(group * accumulation);                                      // the micro-batches of lower data groups
        _trainer.ZeroGradients();
        for (int micro = 0; micro < accumulation; micro++)
        {
            _sampler.Next(_inputs, _targets);
            lossSum += _trainer.AddGradients(_inputs, _targets, Options.Batch, Options.Context);
        }
        _sampler.Skip((groups - 1 - group) * accumulation);                       // those of higher ones
        long reduceStart = Stopwatch.GetTimestamp();
        float loss = _trainer.ReduceGradients(lossSum, accumulation);
        var communication = Stopwatch.GetElapsedTime(reduceStart) + (_model.CommunicationTime - waitedBefore);
        double lr = _schedule.At(Step);
        _trainer.Optimizer.LearningRate = lr;
        _trainer.Update();
        return new StepResult(Step, loss, lr, _trainer.LastGradientNorm, Options.Batch * Options.Context * accumulation * groups,
                              clock.Elapsed.TotalMilliseconds, communication.TotalMilliseconds);
    }

    public bool AgreeToStop(bool stopHere)
    {
        Span<double> flag = [stopHere ? 1 : 0];
        _world.AllReduceSum(flag);
        return flag[0] > 0;
    }

    /// <summary>The data groups share the validation batches; the ranks of a tensor group compute each batch together.</summary>
    public float EvaluateValidation()
    {
        ValidationLoss.BatchLoss loss = (inputs, targets) => _model.Forward(inputs, targets, Options.Batch, Options.Context);
        return _text is not null
            ? ValidationLoss.Text(_text.Validation, Options.Batch, Options.Context, _groups.Data, loss)
            : ValidationLoss.Examples(_conversations!.Validation, Options.Batch, Options.Context, _groups.Data, loss);
    }

    /// <summary>
    /// Tensor group 0 (world ranks 0 … T − 1) gathers one whole model to world rank 0, which writes it; the other groups
    /// hold the same slices and wait. A failure on rank 0 is raised on every rank, after the gathers it left out.
    /// </summary>
    public void Save(string directory) => Save(directory, CheckpointFileSystem.Real);

    /// <summary><see cref="Save(string)"/> through <paramref name="fileSystem"/> on rank 0 (tests inject failures there).</summary>
    public void Save(string directory, CheckpointFileSystem fileSystem)
    {
        Exception? error = null;
        if (_groups.Data.Rank == 0)
        {
            var gatherer = new SliceGatherer(_groups.Tensor, _model.Split, GatherOrder());
            if (_world.Rank == 0)
            {
                var content = new TrainingCheckpoint.Content(_definition.Name, _definition.Config, Step, _sampler.State, Options,
                    metadata => WeightsWriter(metadata, gatherer), _definition.ParameterCount,
                    stream => { foreach (var t in _layout) gatherer.Write(t.Name, stream); },
                    stream => { foreach (var t in _layout) gatherer.Write(t.Name, stream); });
                try { TrainingCheckpoint.Save(directory, content, Files, fileSystem); }
                catch (Exception e) when (_world.Size > 1) { error = e; }
            }
            gatherer.Finish();
        }
        Trainer.AgreeOnRootOutcome(_world, error, $"saving the checkpoint in '{directory}'");
    }

    /// <summary>
    /// What rank 0's writers ask for, in order: model.safetensors' tensors by name (SafeTensorsWriter writes its tensors
    /// in ordinal name order), then trainer.safetensors' m and v, each in the one-process layout's order.
    /// </summary>
    private List<(string, NativeBuffer<float>)> GatherOrder()
    {
        var order = new List<(string, NativeBuffer<float>)>();
        order.AddRange(_layout.Select(t => t.Name).Order(StringComparer.Ordinal).Select(name => (name, _model.Weights.Data)));
        order.AddRange(_layout.Select(t => (t.Name, _trainer.Optimizer.M)));
        order.AddRange(_layout.Select(t => (t.Name, _trainer.Optimizer.V)));
        return order;
    }

    private SafeTensorsWriter WeightsWriter(Dictionary<string, string> metadata, SliceGatherer gatherer)
    {
        var writer = new SafeTensorsWriter(metadata);
        foreach (var t in _layout)
        {
            string name = t.Name;
            writer.Add(name, SafeTensorsDType.F32, Array.ConvertAll(t.Shape, d => (long)d), stream => gatherer.Write(name, stream));
        }
        return writer;
    }

    /// <summary>Every rank reads its slice of the weights and of AdamW's moments, the step and the sampler state.</summary>
    public void Load(string directory)
    {
        var (folder, step, state) = TrainingCheckpoint.Check(directory, _definition.Config, _definition.Name, Options);
        using (var weights = SafeTensorsFile.Open(Path.Combine(folder, "model.safetensors")))
            foreach (var t in _model.Split.Tensors)
            {
                if (!weights.Tensors.TryGetValue(t.Name, out var info) || !info.ShapeEquals(t.FullShape))
                    throw new InvalidDataException($"{weights.Path}: tensor '{t.Name}' is missing or not of shape {SafeTensorInfo.FormatShape(t.FullShape.Select(d => (long)d))}.");
                TensorSlices.Read(weights, t.Name, 0, t, Local(_model.Weights.Data, t));
            }
        var offsets = _layout.ToDictionary(t => t.Name, t => t.Offset);
        using (var trainer = SafeTensorsFile.Open(Path.Combine(folder, "trainer.safetensors")))
            foreach (var (name, moments) in new[] { ("optimizer.m", _trainer.Optimizer.M), ("optimizer.v", _trainer.Optimizer.V) })
            {
                if (!trainer.Tensors.TryGetValue(name, out var info) || info.ElementCount != _definition.ParameterCount)
                    throw new InvalidDataException($"{trainer.Path}: '{name}' is missing or does not hold {_definition.ParameterCount} elements.");
                foreach (var t in _model.Split.Tensors) TensorSlices.Read(trainer, name, offsets[t.Name], t, Local(moments, t));
            }
        _trainer.Optimizer.StepCount = step;
        _sampler.State = state;
    }

    private static Span<float> Local(NativeBuffer<float> buffer, SlicedTensor t) => new(buffer.Pointer + t.Local.Offset, checked((int)t.Local.Length));

    public void Dispose() => _trainer.Dispose();
}
