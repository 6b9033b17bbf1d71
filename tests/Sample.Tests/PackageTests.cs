using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using Xunit.Abstractions;

namespace Qwen3Gen.Sample.Tests;

/// <summary>
/// The NuGet packages as a user gets them: `dotnet pack` of Runtime/ (package Qwen3Gen: runtime + generator) and
/// Sample/ (package Qwen3Gen.Cli: the qwen3gen tool) into a temporary feed; a fresh console project with only a
/// PackageReference declares a model from a config.json and runs a forward pass; the tool installs from the feed
/// and runs. Offline: the feed is a folder, everything else comes from the machine's package cache (a fallback
/// folder), and unreachable sources are ignored. Packs the already-built Release output (--no-build).
/// </summary>
public class PackageTests(ITestOutputHelper log)
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    [Fact]
    public void Packages_BuildAConsumer_AndInstallTheTool()
    {
        string repo = RepoRoot();
        string root = Path.Combine(Path.GetTempPath(), "qwen3gen-package-tests", Guid.NewGuid().ToString("N"));
        string feed = Path.Combine(root, "feed"), consumer = Path.Combine(root, "consumer"), packages = Path.Combine(root, "packages");
        string version = "0.1.0-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", CultureInfo.InvariantCulture);
        try
        {
            Directory.CreateDirectory(consumer);
            // Built and restored already (the test project references both): pack only.
            Dotnet(repo, null, "pack", "Runtime/Qwen3Gen.Runtime.csproj", "-c", Configuration, "--no-build", "--no-restore", "-o", feed, $"-p:Version={version}");
            Dotnet(repo, null, "pack", "Sample/Qwen3Gen.Sample.csproj", "-c", Configuration, "--no-build", "--no-restore", "-o", feed, $"-p:Version={version}");

            // One package holds the runtime, the generator as an analyzer, the unsafe-code switch, symbols next to it.
            using (var zip = ZipFile.OpenRead(Path.Combine(feed, $"Qwen3Gen.{version}.nupkg")))
            {
                var names = zip.Entries.Select(e => e.FullName).ToList();
                Assert.Contains("lib/net10.0/Qwen3Gen.Runtime.dll", names);
                Assert.Contains("analyzers/dotnet/cs/Qwen3Gen.Generator.dll", names);
                Assert.Contains("buildTransitive/Qwen3Gen.props", names);
                Assert.Contains("README.md", names);
                string nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec")).Open()).ReadToEnd();
                Assert.Contains("<license type=\"expression\">MIT</license>", nuspec);
                Assert.Contains("<repository type=\"git\" url=\"https://github.com/qwen3gen/qwen3gen\"", nuspec);
                Assert.DoesNotContain("Qwen3Gen.Generator\"", nuspec);          // not a package dependency
            }
            Assert.True(File.Exists(Path.Combine(feed, $"Qwen3Gen.{version}.snupkg")));

            File.WriteAllText(Path.Combine(consumer, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="qwen3gen-local" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(consumer, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Qwen3Gen" Version="[{version}]" />
                    <AdditionalFiles Include="tiny/config.json" />
                  </ItemGroup>
                </Project>
                """);
            Directory.CreateDirectory(Path.Combine(consumer, "tiny"));
            File.WriteAllText(Path.Combine(consumer, "tiny", "config.json"), """
                {"model_type": "qwen3", "vocab_size": 300, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 128, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
                 "tie_word_embeddings": true, "max_position_embeddings": 256, "hidden_act": "silu"}
                """);
            File.WriteAllText(Path.Combine(consumer, "Program.cs"), """
                using Qwen3Gen;
                using Qwen3Gen.Models;

                using var model = Consumer.Tiny.Create(WeightFormat.F32);
                WeightInit.Normal(model, seed: 1);
                int[] ids = [1, 2, 3, 4, 5, 6, 7, 8];
                float loss = model.Forward(ids, CausalLm.ShiftedTargets(ids, 1, 8), batch: 1, seqLen: 8);
                Console.WriteLine($"{Consumer.Tiny.Vocab} {Consumer.Tiny.Layers} {loss.ToString(System.Globalization.CultureInfo.InvariantCulture)}");

                namespace Consumer
                {
                    [Qwen3Model(Config = "tiny/config.json")]
                    public partial class Tiny;
                }
                """);
            string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            Dotnet(consumer, null, "build", "-c", "Release", "--ignore-failed-sources", $"-p:RestorePackagesPath={packages}", $"-p:RestoreFallbackFolders={cache}");
            string[] output = Dotnet(consumer, null, "bin/Release/net10.0/Consumer.dll").Trim().Split(' ');
            Assert.Equal("300", output[0]);                                       // the shapes came from config.json
            Assert.Equal("2", output[1]);
            float loss = float.Parse(output[2], CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(loss - Math.Log(300)) < 0.3, $"loss {loss} of near-zero weights should be close to ln(300) = {Math.Log(300):F3}");

            // The tool: installs from the feed and runs.
            string tools = Path.Combine(root, "tools");
            Dotnet(root, packages, "tool", "install", "Qwen3Gen.Cli", "--version", version, "--tool-path", tools, "--add-source", feed, "--ignore-failed-sources");
            string info = Run(Path.Combine(tools, OperatingSystem.IsWindows() ? "qwen3gen.exe" : "qwen3gen"), root, null, "info");
            Assert.Contains("Qwen3_0_6B", info);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private string Dotnet(string directory, string? nugetPackages, params string[] args) => Run("dotnet", directory, nugetPackages, args);

    /// <summary>Runs a command (it must exit 0) and logs how long it took: the steps of this test are its whole cost.</summary>
    private string Run(string file, string directory, string? nugetPackages, params string[] args)
    {
        var clock = Stopwatch.StartNew();
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        if (nugetPackages is not null) start.Environment["NUGET_PACKAGES"] = nugetPackages;
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5))) { process.Kill(entireProcessTree: true); Assert.Fail($"{file} {string.Join(' ', args)} timed out"); }
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {process.ExitCode}:\n{stdout}\n{stderr.Result}");
        log.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s  {Path.GetFileName(file)} {string.Join(' ', args.Take(2))}");
        return stdout;
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Qwen3Gen.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("Qwen3Gen.sln not found above " + AppContext.BaseDirectory);
    }
}
