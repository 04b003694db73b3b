using Xunit;

// these tests start processes and clusters that share two cores: one at a time keeps them honest
[assembly: CollectionBehavior(DisableTestParallelization = true)]
