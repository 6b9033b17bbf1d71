using System.Text.Json;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Definitions;
using Qwen3Gen.Inference;
using Qwen3Gen.Sample.Commands;
using Qwen3Gen.Sample.Runs;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Training;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Tests;

/// <summary>
/// A trained model is a model: the checkpoint folder `train` leaves carries its tokenizer and generation_config.json,
/// so `generate`, `chat` (Qwen3-tokenizer models), `bench` and `info` take it as they take a Hugging Face snapshot.
/// </summary>
// InfoCommand.Run writes to Console.Out, which CommandLineTests swaps for its own capture: not at the same time.
[Collection("Console")]
public sealed class TrainedModelTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "qwen3gen-trained-" + Guid.NewGuid().ToString("N"));
    private readonly string _data;

    public TrainedModelTests()
    {
        _data = CorpusSlice.Write(_root, bytes: 20_000);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    /// <summary>A Hugging Face snapshot of Qwen3Tiny with N(0, 0.02) weights (<paramref name="seed"/>) and the byte-level tokenizer.</summary>
    private string RandomTinySnapshot(string name, ulong seed, SafeTensorsDType dtype)
    {
        string snapshot = Path.Combine(_root, name), tokenizer = Path.Combine(_root, name + "-tok");
        TokenizerFolder.WriteByteLevel(tokenizer);
        using var source = Qwen3Tiny.Create(WeightFormat.F32);
        WeightInit.Normal(source, seed);
        SnapshotWriter.Save(source, snapshot, dtype, generation: ModelFiles.ByteLevel.Generation, tokenizerDirectory: tokenizer);
        return snapshot;
    }

    private string Train(string model, string tokenizer, int batch, int context)
    {
        string output = Path.Combine(_root, model);
        var settings = new TrainSettings
        {
            Model = model, Tokenizer = tokenizer, Data = _data, Out = output, Threads = 1, EvalInterval = 0, SampleChars = 0,
            Training = new TrainingOptions { Steps = 3, Batch = batch, Context = context, WarmupSteps = 1, LearningRate = 3e-3 },
        };
        TrainRun.Execute(settings, new Silent(), CancellationToken.None);
        return Path.Combine(output, TrainingCheckpoint.FolderName);
    }

    [Fact]
    public void ByteLevelCheckpoint_CarriesItsTokenizer_AndGenerateContinuesLikeTheWeightsDo()
    {
        string checkpoint = Train("Qwen3Tiny", "byte", 3, 16);
        foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json" })
            Assert.True(File.Exists(Path.Combine(checkpoint, file)), $"{file} missing from the checkpoint");
        Assert.True(TokenizerFolder.IsByteLevel(checkpoint));
        Assert.Same(ByteTokenizer.Instance, TokenizerFolder.Load(checkpoint));

        // tokenizer.json is Hugging Face's byte-level BPE with id = byte value: 256 single-character entries, no merges,
        // printable ASCII standing for itself (GPT-2's alphabet) and the 256 ids all distinct.
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(checkpoint, "tokenizer.json"))))
        {
            var model = doc.RootElement.GetProperty("model");
            Assert.Equal("BPE", model.GetProperty("type").GetString());
            Assert.Equal(0, model.GetProperty("merges").GetArrayLength());
            var vocab = model.GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
            Assert.Equal(256, vocab.Count);
            Assert.Equal(256, vocab.Values.Distinct().Count());
            Assert.All(vocab.Keys, k => Assert.Equal(1, k.Length));
            for (int b = 33; b <= 126; b++) Assert.Equal(b, vocab[((char)b).ToString()]);
            Assert.Equal(32, vocab["\u0120"]);      // GPT-2 shows the space as Ġ
            Assert.Equal(10, vocab["\u010A"]);      // and the newline as Ċ
        }
        var generation = GenerationConfig.FromJson(File.ReadAllText(Path.Combine(checkpoint, "generation_config.json")));
        Assert.True(generation.DoSample);
        Assert.Empty(generation.EosTokenIds);

        // generate, greedy, in-process: the text must be what greedy decoding of the saved weights gives.
        var output = new StringWriter();
        var error = new StringWriter();
        var settings = new GenerateCommand.Settings
        {
            Prompt = "ROMEO:",
            Model = new ModelSettings { ModelDir = checkpoint, MaxTokens = 24, Temperature = 0, Threads = 1 },
        };
        Assert.Equal(0, GenerateCommand.Run(settings, output, error, terminal: false));
        Assert.Contains("generated 24 tokens", error.ToString());

        using var reference = Qwen3Tiny.Create(WeightFormat.F32);
        CheckpointLoader.Load(reference, Path.Combine(checkpoint, "model.safetensors"));
        using var session = reference.CreateSession(64);
        var ids = new List<int>();
        int next = ArgMax(session.Prefill("ROMEO:"u8.ToArray().Select(b => (int)b).ToArray()));
        for (int i = 0; i < 24; i++)
        {
            ids.Add(next);
            if (i < 23) next = ArgMax(session.Decode(next));
        }
        Assert.Equal(ByteTokenizer.Instance.Decode(ids.ToArray()), output.ToString().TrimEnd('\n'));

        // chat needs the Qwen3 tokenizer and says so; info describes the folder.
        var chatError = new StringWriter();
        Assert.Equal(1, ChatCommand.Run(new ChatCommand.Settings { Model = new ModelSettings { ModelDir = checkpoint } },
                                        new StringReader("hi\n"), new StringWriter(), chatError, terminal: false));
        Assert.Contains("byte-level", chatError.ToString());
        Assert.Equal(0, InfoCommand.Run(checkpoint));

        // export: a snapshot without the optimizer state, whose weights are the checkpoint's bit for bit (F32) and
        // from which generate continues the same way.
        string exported = Path.Combine(_root, "exported");
        var exportOut = new StringWriter();
        Assert.Equal(0, ExportCommand.Run(checkpoint, exported, "f32", "5GB", exportOut, new StringWriter()));
        Assert.Contains("model.safetensors", exportOut.ToString());
        Assert.Equal(["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"],
                     Directory.GetFiles(exported).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray());
        using (var a = SafeTensorsFile.Open(Path.Combine(checkpoint, "model.safetensors")))
        using (var b = SafeTensorsFile.Open(Path.Combine(exported, "model.safetensors")))
        {
            Assert.Equal(a.Tensors.Keys.Order(), b.Tensors.Keys.Order());
            foreach (var name in a.Tensors.Keys) Assert.True(a.GetBytes(name).SequenceEqual(b.GetBytes(name)), name);
        }
        var again = new StringWriter();
        Assert.Equal(0, GenerateCommand.Run(settings with { Model = settings.Model with { ModelDir = exported } }, again, new StringWriter(), terminal: false));
        Assert.Equal(output.ToString(), again.ToString());
        var refused = new StringWriter();
        Assert.Equal(1, ExportCommand.Run(checkpoint, exported, "f32", "5GB", new StringWriter(), refused));   // never over an existing snapshot
        Assert.Contains("already holds", refused.ToString());
        Assert.Equal(1, ExportCommand.Run(checkpoint, Path.Combine(_root, "x"), "f32", "lots", new StringWriter(), new StringWriter()));
        Assert.Equal(500_000_000, ExportCommand.ParseSize("500MB"));
        Assert.Equal(5_000_000_000, ExportCommand.ParseSize("5GB"));
        Assert.Equal(0, BenchCommand.RunGenerate("ignored", "f32", "1", 4, 2, 1, new StringWriter(), new StringWriter(), checkpoint));
    }

    [Fact]
    public void Qwen3TokenizerCheckpoint_CarriesTheTokenizerFiles_AndChats()
    {
        string checkpoint = Train("Qwen3FullVocab", "qwen3", 1, 16);
        Assert.True(new TokenizerFiles(checkpoint).Complete);
        Assert.False(TokenizerFolder.IsByteLevel(checkpoint));
        var tokenizer = Assert.IsType<Qwen3Tokenizer>(TokenizerFolder.Load(checkpoint));
        Assert.Equal(Qwen3Tokenizer.Bundled.Encode("To be, or not to be"), tokenizer.Encode("To be, or not to be"));
        var generation = GenerationConfig.FromJson(File.ReadAllText(Path.Combine(checkpoint, "generation_config.json")));
        Assert.Equal([GenerationConfig.ImEnd, GenerationConfig.EndOfText], generation.EosTokenIds);

        var output = new StringWriter();
        var error = new StringWriter();
        var settings = new GenerateCommand.Settings
        {
            Prompt = "Hello", Chat = true, NoThink = true,
            Model = new ModelSettings { ModelDir = checkpoint, MaxTokens = 3, Temperature = 0, Threads = 1 },
        };
        Assert.Equal(0, GenerateCommand.Run(settings, output, error, terminal: false));
        Assert.Contains("prompt ", error.ToString());

        // `quantize` takes the checkpoint folder (trainer.safetensors beside the weights) as it takes a snapshot: the GGUF
        // carries the Qwen3 tokenizer, and its Q8_0 model computes the checkpoint's logits up to the quantisation error.
        string gguf = Path.Combine(_root, "trained-q8_0.gguf");
        Assert.Equal(0, QuantizeCommand.Run(checkpoint, "q8_0", gguf, new StringWriter(), error));
        int[] ids = tokenizer.Encode("To be, or not to be");
        float[] Logits(string model)
        {
            using var loaded = ModelDirectory.Load(model);
            if (model == gguf) Assert.Equal(ids, loaded.LoadTokenizer().Encode("To be, or not to be"));
            loaded.Model.Reserve(1, ids.Length, training: false);
            loaded.Model.Forward(ids, [], 1, ids.Length);
            return loaded.Model.Logits.ToArray();
        }
        float[] exact = Logits(checkpoint), quantised = Logits(gguf);
        double error2 = exact.Zip(quantised, (a, b) => (double)(a - b) * (a - b)).Sum(), norm2 = exact.Sum(a => (double)a * a);
        Assert.True(error2 / norm2 is > 0 and < 1e-3, $"Q8_0 logits NMSE {error2 / norm2:E2} against the checkpoint's F32 (expected small, and not 0)");
    }

    [Fact]
    public void InitFrom_ABf16Snapshot_StartsFromItsWeights_WithItsOwnTokenizer()
    {
        string snapshot = RandomTinySnapshot("snapshot", seed: 7, SafeTensorsDType.BF16);
        // One step at lr 1e-9 without weight decay moves no weight by more than ~1e-9: the result is the snapshot's weights.
        string output = Path.Combine(_root, "finetune");
        var settings = new TrainSettings
        {
            InitFrom = snapshot, Data = _data, Out = output, Threads = 1, EvalInterval = 0, SampleChars = 0,
            Training = new TrainingOptions { Steps = 1, Batch = 2, Context = 16, WarmupSteps = 0, LearningRate = 1e-9, MinLearningRate = 1e-9, WeightDecay = 0 },
        };
        var summary = TrainRun.Execute(settings, new Silent(), CancellationToken.None);
        Assert.Equal("Qwen3Tiny", summary.Model);
        Assert.Equal("byte", summary.Tokenizer);
        string checkpoint = Path.Combine(output, TrainingCheckpoint.FolderName);
        Assert.True(TokenizerFolder.IsByteLevel(checkpoint));
        using var start = SafeTensorsFile.Open(Path.Combine(snapshot, "model.safetensors"));
        using var end = SafeTensorsFile.Open(Path.Combine(checkpoint, "model.safetensors"));
        foreach (var (name, info) in start.Tensors)
        {
            var a = new float[info.ElementCount];
            var b = new float[info.ElementCount];
            start.ReadF32(name, 0, a);
            end.ReadF32(name, 0, b);
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) < 1e-6f, $"{name}[{i}]: {b[i]} after the step, {a[i]} in the snapshot");
        }
        var wrong = Assert.Throws<ArgumentException>(() => TrainRun.Execute(settings with { Model = "Qwen3Shakespeare", Overwrite = true }, new Silent(), CancellationToken.None));
        Assert.Contains("Qwen3Tiny", wrong.Message);
        var qwen3 = Assert.Throws<ArgumentException>(() => TrainRun.Execute(settings with { Tokenizer = "qwen3", Overwrite = true }, new Silent(), CancellationToken.None));
        Assert.Contains("byte tokenizer", qwen3.Message);
    }

    [Fact]
    public void ChatJsonLines_TrainWithTheQwen3Tokenizer_AndValidateOnHeldOutConversations()
    {
        string chat = Path.Combine(_root, "chat.jsonl");
        File.WriteAllLines(chat, Enumerable.Range(0, 12).Select(i =>
            $$"""{"messages": [{"role": "user", "content": "What is {{i}} plus {{i}}?"}, {"role": "assistant", "content": "{{i}} plus {{i}} is {{2 * i}}."}]}"""));
        var settings = new TrainSettings
        {
            Model = "Qwen3FullVocab", Tokenizer = "qwen3", Data = chat, Out = Path.Combine(_root, "sft"), Threads = 1, EvalInterval = 0, SampleChars = 0,
            Training = new TrainingOptions { Steps = 2, Batch = 2, Context = 48, WarmupSteps = 0, LearningRate = 1e-3 },
        };
        var info = new List<string>();
        var summary = TrainRun.Execute(settings, new Silent(info), CancellationToken.None);
        Assert.Contains(info, line => line.Contains("12 conversations (10 train, 2 validation"));
        Assert.True(float.IsFinite(summary.FinalValidationLoss) && summary.FinalValidationLoss > 0, $"validation loss {summary.FinalValidationLoss}");
        var bytes = Assert.Throws<ArgumentException>(() => TrainRun.Execute(settings with { Model = "Qwen3Tiny", Tokenizer = "byte", Overwrite = true }, new Silent(), CancellationToken.None));
        Assert.Contains("chat conversations", bytes.Message);
    }

    [Fact]
    public void LoraRun_ResumesExactly_AndItsAdapter_GeneratesAsTheMergedExport()
    {
        string snapshot = RandomTinySnapshot("base", seed: 9, SafeTensorsDType.F32);
        TrainSettings Settings(string output) => new()
        {
            InitFrom = snapshot, Data = _data, Out = output, Threads = 1, EvalInterval = 0, SampleChars = 0, CheckpointInterval = 0,
            Lora = new Qwen3Gen.Training.Lora.LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["q_proj", "v_proj", "down_proj"] },
            Training = new TrainingOptions { Steps = 4, Batch = 2, Context = 16, WarmupSteps = 0, LearningRate = 1e-2 },
        };
        string straight = Path.Combine(_root, "lora-straight"), resumed = Path.Combine(_root, "lora-resumed");
        TrainRun.Execute(Settings(straight), new Silent(), CancellationToken.None);
        using (var stop = new CancellationTokenSource())
        {
            var first = TrainRun.Execute(Settings(resumed), new StopAfter(2, stop), stop.Token);
            Assert.True(first.Interrupted);
        }
        TrainRun.Execute(Settings(resumed) with { Resume = true }, new Silent(), CancellationToken.None);
        string a = Path.Combine(straight, "checkpoint"), b = Path.Combine(resumed, "checkpoint");
        foreach (var file in new[] { "adapter_model.safetensors", "model.safetensors", "trainer.safetensors" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, file)), File.ReadAllBytes(Path.Combine(b, file)));

        // generate with the base + --adapter, and from the merged export: the same greedy text.
        var viaAdapter = new StringWriter();
        var settings = new GenerateCommand.Settings
        {
            Prompt = "KING:",
            Model = new ModelSettings { ModelDir = snapshot, Adapter = a, MaxTokens = 16, Temperature = 0, Threads = 1 },
        };
        Assert.Equal(0, GenerateCommand.Run(settings, viaAdapter, new StringWriter(), terminal: false));
        string merged = Path.Combine(_root, "merged");
        Assert.Equal(0, ExportCommand.Run(snapshot, merged, "f32", "5GB", new StringWriter(), new StringWriter(), mergeAdapter: a));
        var viaExport = new StringWriter();
        Assert.Equal(0, GenerateCommand.Run(settings with { Model = settings.Model with { ModelDir = merged, Adapter = null } }, viaExport, new StringWriter(), terminal: false));
        Assert.Equal(viaAdapter.ToString(), viaExport.ToString());
        using (var baseFile = SafeTensorsFile.Open(Path.Combine(snapshot, "model.safetensors")))
        using (var mergedFile = SafeTensorsFile.Open(Path.Combine(merged, "model.safetensors")))
        {
            const string adapted = "model.layers.0.self_attn.q_proj.weight", frozen = "model.layers.0.self_attn.k_proj.weight";
            Assert.False(baseFile.GetBytes(adapted).SequenceEqual(mergedFile.GetBytes(adapted)));   // the adapter changed q_proj
            Assert.True(baseFile.GetBytes(frozen).SequenceEqual(mergedFile.GetBytes(frozen)));      // and not k_proj (not a target)
        }
    }

    /// <summary>
    /// A LoRA adapter loaded into another process gives the logits of the merged export: `export --merge-adapter`, then
    /// `logits` with the base + `--adapter` and with the export, each a separate run of the built program; the .npy files
    /// are read here with their own parser. Both also agree with this process's unmerged LoRA forward (the adapters added
    /// after each projection, as PEFT computes them) up to the rounding of the merge, and differ from the bare base.
    /// </summary>
    [Fact]
    public void LoraAdapter_InASecondProcess_GivesTheLogitsOfTheMergedExport()
    {
        string snapshot = RandomTinySnapshot("base", seed: 5, SafeTensorsDType.F32);
        var settings = new TrainSettings
        {
            InitFrom = snapshot, Data = _data, Out = Path.Combine(_root, "lora"), Threads = 1, EvalInterval = 0, SampleChars = 0, CheckpointInterval = 0,
            Lora = new Qwen3Gen.Training.Lora.LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["q_proj", "o_proj", "up_proj", "down_proj"] },
            Training = new TrainingOptions { Steps = 5, Batch = 2, Context = 16, WarmupSteps = 0, LearningRate = 2e-2 },
        };
        TrainRun.Execute(settings, new Silent(), CancellationToken.None);
        string adapter = Path.Combine(settings.Out, TrainingCheckpoint.FolderName), merged = Path.Combine(_root, "merged");
        const string prompt = "ROMEO: and JULIET";                               // byte-level: 17 ids, one per byte

        float[,] Logits(string name, params string[] model)
        {
            string file = Path.Combine(_root, name + ".npy");
            var (code, stdout, stderr) = RealFaults.Child.Run([], ["logits", prompt, "--threads", "1", "--out", file, .. model], TimeSpan.FromMinutes(2));
            Assert.True(code == 0, $"logits {string.Join(' ', model)}: exit {code}\n{stdout}\n{stderr}");
            return ReadNpy(file);
        }
        var viaAdapter = Logits("adapter", "--model", snapshot, "--adapter", adapter);
        var (exportCode, exportOut, exportErr) = RealFaults.Child.Run([], ["export", "--model", snapshot, "--merge-adapter", adapter, "--out", merged], TimeSpan.FromMinutes(2));
        Assert.True(exportCode == 0, $"export: exit {exportCode}\n{exportOut}\n{exportErr}");
        var viaExport = Logits("export", "--model", merged);
        var bare = Logits("base", "--model", snapshot);

        Assert.Equal([prompt.Length, Qwen3Tiny.HyperParameters.Vocab], new[] { viaAdapter.GetLength(0), viaAdapter.GetLength(1) });
        Assert.Equal(viaAdapter.Cast<float>(), viaExport.Cast<float>());        // the same merged weights in both processes: the same bits
        double moved = viaAdapter.Cast<float>().Zip(bare.Cast<float>(), (a, b) => Math.Abs(a - b)).Max();
        Assert.True(moved > 1e-2, $"the adapter changed no logit by more than {moved}: the test would not see a missing adapter");

        // This process: the base with the adapter unmerged.
        ModelLoading.RegisterDefinitions();
        using var loaded = ModelDirectory.Load(snapshot, WeightFormat.F32);
        var model = loaded.Model;
        using var lora = Qwen3Gen.Training.Lora.LoraAdapter.Load(model, adapter);
        model.Adapters = lora;
        int[] ids = [.. System.Text.Encoding.UTF8.GetBytes(prompt).Select(b => (int)b)];
        model.Forward(ids, [], 1, ids.Length);
        var unmerged = model.Logits.ToArray();
        double worst = unmerged.Zip(viaAdapter.Cast<float>(), (a, b) => Math.Abs(a - (double)b)).Max();
        Assert.True(worst < 1e-4, $"the unmerged adapter and the merged export differ by {worst} in a logit");
    }

    /// <summary>
    /// `perplexity` scores the validation split as `train` does (its mean cross-entropy is the run's validation loss);
    /// against itself the divergences are exactly zero; against its Q8_0 GGUF they are small and positive and equal, on one
    /// window, what this test computes from the two models' logits with its own float64 loop.
    /// </summary>
    [Fact]
    public void Perplexity_IsTheValidationLoss_AndMeasuresAQuantisedCopyAgainstTheOriginal()
    {
        string checkpoint = Train("Qwen3Tiny", "byte", 2, 16);
        string run = Path.GetDirectoryName(checkpoint)!;
        float validation;
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json"))))
            validation = doc.RootElement.GetProperty("FinalValidationLoss").GetSingle();
        var settings = new PerplexityCommand.Settings { Model = checkpoint, Data = _data, Context = 16, Threads = 1 };
        var output = new StringWriter();
        var whole = PerplexityCommand.Measure(settings, output, new StringWriter())!;
        Assert.Equal(validation, whole.MeanCrossEntropy, 5e-6 * validation);
        Assert.Contains("perplexity ", output.ToString());

        var self = PerplexityCommand.Measure(settings with { Reference = checkpoint, MaxWindows = 3 }, new StringWriter(), new StringWriter())!;
        Assert.Equal((0.0, 1.0, 0.0), (self.MeanKl!.Value, self.TopOneAgreement!.Value, self.Nmse!.Value));

        string gguf = Path.Combine(_root, "tiny-q8_0.gguf");
        Assert.Equal(0, QuantizeCommand.Run(checkpoint, "q8_0", gguf, new StringWriter(), new StringWriter()));
        var quantised = PerplexityCommand.Measure(settings with { Model = gguf, Reference = checkpoint, MaxWindows = 1 }, new StringWriter(), new StringWriter())!;
        Assert.Equal(16, quantised.Targets);

        // The same window by hand: the first 17 ids of the validation split (the text's bytes from 90 % onward).
        byte[] corpus = File.ReadAllBytes(_data);
        int[] ids = [.. corpus.AsSpan((int)(corpus.Length * 0.9), 17).ToArray().Select(b => (int)b)];
        double[,] Logits(string model)
        {
            using var loaded = ModelDirectory.Load(model);
            loaded.Model.Reserve(1, 16, training: false);
            loaded.Model.Forward(ids.AsSpan(0, 16), [], 1, 16);
            var z = new double[16, 256];
            for (int t = 0; t < 16; t++) for (int i = 0; i < 256; i++) z[t, i] = loaded.Model.Logits[t * 256 + i];
            return z;
        }
        double[,] q = Logits(gguf), f = Logits(checkpoint);
        double kl = 0, ce = 0, err = 0, norm = 0;
        int same = 0;
        for (int t = 0; t < 16; t++)
        {
            double mq = Enumerable.Range(0, 256).Max(i => q[t, i]), mf = Enumerable.Range(0, 256).Max(i => f[t, i]);
            double lq = mq + Math.Log(Enumerable.Range(0, 256).Sum(i => Math.Exp(q[t, i] - mq)));
            double lf = mf + Math.Log(Enumerable.Range(0, 256).Sum(i => Math.Exp(f[t, i] - mf)));
            ce += lq - q[t, ids[t + 1]];
            for (int i = 0; i < 256; i++)
            {
                double pf = Math.Exp(f[t, i] - lf);
                kl += pf * ((f[t, i] - lf) - (q[t, i] - lq));
                err += (q[t, i] - f[t, i]) * (q[t, i] - f[t, i]);
                norm += f[t, i] * f[t, i];
            }
            if (Enumerable.Range(0, 256).MaxBy(i => q[t, i]) == Enumerable.Range(0, 256).MaxBy(i => f[t, i])) same++;
        }
        Assert.Equal(ce / 16, quantised.MeanCrossEntropy, 1e-9);
        Assert.True(kl / 16 > 0, "Q8_0 weights left every distribution unchanged: the comparison would not see a difference");
        Assert.Equal(kl / 16, quantised.MeanKl!.Value, 1e-9);
        Assert.Equal(err / norm, quantised.Nmse!.Value, 1e-12);
        Assert.Equal(same / 16.0, quantised.TopOneAgreement!.Value);
    }

    /// <summary>A float32 C-order .npy matrix, parsed from the format's definition (numpy.lib.format, version 1.0).</summary>
    private static float[,] ReadNpy(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 }, bytes[..8]);
        int headerLength = bytes[8] | bytes[9] << 8;
        string header = System.Text.Encoding.ASCII.GetString(bytes, 10, headerLength);
        Assert.Equal(0, (10 + headerLength) % 64);
        Assert.EndsWith("\n", header);
        Assert.Contains("'descr': '<f4'", header);
        Assert.Contains("'fortran_order': False", header);
        var shape = System.Text.RegularExpressions.Regex.Match(header, @"'shape': \((\d+), (\d+)\)");
        Assert.True(shape.Success, header);
        int rows = int.Parse(shape.Groups[1].Value), columns = int.Parse(shape.Groups[2].Value);
        Assert.Equal(10 + headerLength + 4L * rows * columns, bytes.Length);
        var values = new float[rows, columns];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                values[r, c] = BitConverter.ToSingle(bytes, 10 + headerLength + 4 * (r * columns + c));
        return values;
    }

    private static int ArgMax(ReadOnlySpan<float> logits) => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);

    private sealed class StopAfter(long step, CancellationTokenSource stop) : ITrainingProgress
    {
        public void Info(string text) { }
        public void Begin(long firstStep, long totalSteps) { }
        public void Step(StepResult result, double tokensPerSecond, TimeSpan trainingTime) { if (result.Step == step) stop.Cancel(); }
        public void Evaluated(long s, float validationLoss, TimeSpan evaluationTime, string sample) { }
        public void Saved(long s, string folder) { }
    }

    private sealed class Silent(List<string>? info = null) : ITrainingProgress
    {
        public void Info(string text) => info?.Add(text);
        public void Begin(long firstStep, long totalSteps) { }
        public void Step(StepResult step, double tokensPerSecond, TimeSpan trainingTime) { }
        public void Evaluated(long step, float validationLoss, TimeSpan evaluationTime, string sample) { }
        public void Saved(long step, string folder) { }
    }
}
