import ArgumentParser
import ShrinkTensor
print("x")
