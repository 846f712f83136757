/* test_config.c: placeholder, being written. */
int main(void)
{
    return 77;
}
